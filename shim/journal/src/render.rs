//! Rendering a [`Report`] as Markdown or as one self-contained HTML file.

use std::fmt::Write;

use crate::report::{Report, join_counts, show, top};

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# vigil audit report\n");
    let _ = writeln!(
        o,
        "Generated {} for {} ({} records, {} to {}; {} seals, {} gaps).\n",
        r.generated,
        r.hosts.iter().cloned().collect::<Vec<_>>().join(", "),
        r.records,
        r.first_time.as_deref().unwrap_or("-"),
        r.last_time.as_deref().unwrap_or("-"),
        r.seals,
        r.gaps.len()
    );
    let _ = writeln!(o, "## Management actions by user\n");
    let _ = writeln!(
        o,
        "| user | actions | containers | commands | first | last |\n|---|---|---|---|---|---|"
    );
    for (u, a) in &r.users {
        let _ = writeln!(
            o,
            "| {u} | {} | {} | {} | {} | {} |",
            join_counts(&a.actions),
            md(&a.containers.iter().cloned().collect::<Vec<_>>().join(", ")),
            md(&a
                .commands
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")),
            a.first.as_deref().unwrap_or("-"),
            a.last.as_deref().unwrap_or("-")
        );
    }
    let _ = writeln!(o, "\n## Containers: segregation and regulated data\n");
    let _ = writeln!(
        o,
        "| container | policy | mode | capabilities | namespaces | seccomp | landlock | data classes reachable | data classes accessed | decisions |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for (id, c) in &r.containers {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(id),
            md(&format!(
                "{} {}",
                c.policy.as_deref().unwrap_or("-"),
                c.policy_digest.as_deref().unwrap_or("")
            )),
            c.mode.as_deref().unwrap_or("-"),
            md(&show(&c.capabilities)),
            md(&show(&c.namespaces)),
            md(&show(&c.seccomp)),
            md(&show(&c.landlock)),
            md(&c
                .classes_reachable
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")),
            join_counts(&c.classes_accessed),
            join_counts(&c.decisions)
        );
    }
    let _ = writeln!(
        o,
        "\n## Blocked and audited activity over time (per {} min, UTC)\n",
        r.bucket_minutes
    );
    let _ = writeln!(o, "| from | blocked | audited |\n|---|---|---|");
    for b in &r.timeline {
        let _ = writeln!(o, "| {} | {} | {} |", b.start, b.deny, b.audit);
    }
    let _ = writeln!(o, "\n### Most blocked objects\n");
    for (id, c) in &r.containers {
        for (obj, n) in top(&c.blocked, 5) {
            let _ = writeln!(o, "- {}: `{}` x{n}", md(id), obj.replace('`', "'"));
        }
    }
    if !r.gaps.is_empty() {
        let _ = writeln!(o, "\n## Gaps\n");
        for g in &r.gaps {
            let _ = writeln!(o, "- {}", md(g));
        }
    }
    o
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn h(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report as one self-contained HTML file (inline CSS and SVG, no scripts).
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vigil audit report</title><style>\
body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:13px}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}\
.deny{fill:#c0392b}.audit{fill:#e6a23c}.axis{stroke:#555}.lbl{font-size:10px;fill:#333}code{font-size:12px}\
</style></head><body>\n<h1>vigil audit report</h1>\n");
    let _ = writeln!(
        o,
        "<p>Generated {} for {} &middot; {} records from {} to {} &middot; {} seals &middot; {} gaps</p>",
        h(&r.generated),
        h(&r.hosts.iter().cloned().collect::<Vec<_>>().join(", ")),
        r.records,
        h(r.first_time.as_deref().unwrap_or("-")),
        h(r.last_time.as_deref().unwrap_or("-")),
        r.seals,
        r.gaps.len()
    );
    o.push_str("<h2>Blocked and audited activity over time</h2>\n");
    o.push_str(&timeline_svg(r));
    o.push_str("<h2>Management actions by user</h2>\n<table><tr><th>user</th><th>actions</th><th>containers</th><th>commands</th><th>first</th><th>last</th></tr>\n");
    for (u, a) in &r.users {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            h(u),
            h(&join_counts(&a.actions)),
            h(&a.containers.iter().cloned().collect::<Vec<_>>().join(", ")),
            h(&a.commands
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")),
            h(a.first.as_deref().unwrap_or("-")),
            h(a.last.as_deref().unwrap_or("-"))
        );
    }
    o.push_str("</table>\n<h2>Containers: segregation and regulated data</h2>\n<table><tr><th>container</th><th>policy</th><th>mode</th><th>capabilities</th><th>namespaces</th><th>seccomp</th><th>landlock</th><th>classes reachable</th><th>classes accessed</th><th>decisions</th><th>most blocked</th></tr>\n");
    for (id, c) in &r.containers {
        let blocked: Vec<String> = top(&c.blocked, 3)
            .into_iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{} <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            h(id),
            h(c.policy.as_deref().unwrap_or("-")),
            h(c.policy_digest.as_deref().unwrap_or("")),
            h(c.mode.as_deref().unwrap_or("-")),
            h(&show(&c.capabilities)),
            h(&show(&c.namespaces)),
            h(&show(&c.seccomp)),
            h(&show(&c.landlock)),
            h(&c.classes_reachable
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")),
            h(&join_counts(&c.classes_accessed)),
            h(&join_counts(&c.decisions)),
            h(&blocked.join("; "))
        );
    }
    o.push_str("</table>\n");
    if !r.gaps.is_empty() {
        o.push_str("<h2>Gaps</h2><ul>");
        for g in &r.gaps {
            let _ = write!(o, "<li>{}</li>", h(g));
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</body></html>\n");
    o
}

/// A stacked bar chart: blocked (red) and audited (amber) per bucket.
fn timeline_svg(r: &Report) -> String {
    let (w, ht, left, bottom) = (900.0f64, 240.0f64, 50.0f64, 40.0f64);
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{ht}\" role=\"img\" aria-label=\"blocked and audited over time\">\n"
    );
    let max = r
        .timeline
        .iter()
        .map(|b| b.deny + b.audit)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_h = ht - bottom - 10.0;
    let n = r.timeline.len().max(1) as f64;
    let bw = (w - left - 10.0) / n;
    let _ = writeln!(
        o,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
        ht - bottom,
        w - 10.0,
        ht - bottom
    );
    let _ = writeln!(
        o,
        "<line class=\"axis\" x1=\"{left}\" y1=\"10\" x2=\"{left}\" y2=\"{}\"/>",
        ht - bottom
    );
    let _ = writeln!(
        o,
        "<text class=\"lbl\" x=\"{}\" y=\"16\" text-anchor=\"end\">{}</text>",
        left - 4.0,
        max as u64
    );
    let _ = writeln!(
        o,
        "<text class=\"lbl\" x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        left - 4.0,
        ht - bottom
    );
    for (i, b) in r.timeline.iter().enumerate() {
        let x = left + i as f64 * bw + 1.0;
        let dh = b.deny as f64 / max * plot_h;
        let ah = b.audit as f64 / max * plot_h;
        let base = ht - bottom;
        let _ = writeln!(
            o,
            "<rect class=\"deny\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{dh:.1}\"><title>{} blocked {}</title></rect>",
            base - dh,
            (bw - 2.0).max(1.0),
            h(&b.start),
            b.deny
        );
        let _ = writeln!(
            o,
            "<rect class=\"audit\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{ah:.1}\"><title>{} audited {}</title></rect>",
            base - dh - ah,
            (bw - 2.0).max(1.0),
            h(&b.start),
            b.audit
        );
        let last = i + 1 == r.timeline.len();
        if i == 0 || last || (i % 8 == 0 && i + 4 < r.timeline.len()) {
            let (lx, anchor) = if last && i > 0 {
                (x + bw - 2.0, "end")
            } else {
                (x, "start")
            };
            let _ = writeln!(
                o,
                "<text class=\"lbl\" x=\"{lx:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                ht - bottom + 14.0,
                h(&b.start[..16.min(b.start.len())])
            );
        }
    }
    if r.timeline.is_empty() {
        let _ = writeln!(
            o,
            "<text class=\"lbl\" x=\"{}\" y=\"{}\">no blocked or audited activity</text>",
            left + 10.0,
            ht / 2.0
        );
    }
    let _ = writeln!(
        o,
        "<rect class=\"deny\" x=\"{}\" y=\"{}\" width=\"10\" height=\"10\"/><text class=\"lbl\" x=\"{}\" y=\"{}\">blocked</text>",
        left,
        ht - 14.0,
        left + 14.0,
        ht - 5.0
    );
    let _ = writeln!(
        o,
        "<rect class=\"audit\" x=\"{}\" y=\"{}\" width=\"10\" height=\"10\"/><text class=\"lbl\" x=\"{}\" y=\"{}\">audited</text>",
        left + 80.0,
        ht - 14.0,
        left + 94.0,
        ht - 5.0
    );
    if r.bucket_minutes > 0 {
        let _ = writeln!(
            o,
            "<text class=\"lbl\" x=\"{}\" y=\"{}\">per {} min, UTC</text>",
            left + 160.0,
            ht - 5.0,
            r.bucket_minutes
        );
    }
    o.push_str("</svg>\n");
    o
}
