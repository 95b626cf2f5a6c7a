//! Checks that need the whole policy: contradictory rules.

use crate::model::{Item, Policy};
use crate::reader::{Reader, is_under};

/// True when `path` is matched by the `filesystem.deny` entry `deny` (a path or a glob).
pub fn deny_covers(deny: &str, path: &str) -> bool {
    if deny.contains(['*', '?', '[']) {
        glob::Pattern::new(deny).is_ok_and(|p| p.matches(path))
    } else {
        is_under(path, deny)
    }
}

/// Report contradictions in `p` (same syscall allowed and denied, a denied path also listed as
/// readable or writable, ...).
pub fn validate(p: &Policy, r: &mut Reader) {
    let sc = &p.spec.syscalls;
    if let Some(allow) = &sc.allow {
        for a in allow.iter().filter(|a| a.args.is_empty()) {
            for name in &a.names {
                let denied = sc
                    .deny
                    .iter()
                    .filter(|d| d.args.is_empty())
                    .flat_map(|d| &d.names)
                    .find(|d| d.value == name.value);
                if let Some(d) = denied {
                    r.error(&name.at, format!("syscall {:?} is both allowed here and denied at {}: remove one of them", name.value, d.at));
                }
            }
        }
    }
    let mut seen: Vec<&Item<String>> = Vec::new();
    for d in sc.deny.iter().filter(|d| d.args.is_empty()) {
        for n in &d.names {
            if let Some(prev) = seen.iter().find(|s| s.value == n.value) {
                r.warn(
                    &n.at,
                    format!(
                        "syscall {:?} is denied twice (also at {})",
                        n.value, prev.at
                    ),
                );
            } else {
                seen.push(n);
            }
        }
    }

    let caps = &p.spec.capabilities;
    for a in &caps.add {
        if let Some(d) = caps.drop.iter().find(|d| d.value == a.value) {
            r.error(
                &a.at,
                format!(
                    "capability {} is both added here and dropped at {}",
                    a.value, d.at
                ),
            );
        }
    }

    let fs = &p.spec.filesystem;
    let rw: &[Item<String>] = fs.read_write.as_deref().unwrap_or(&[]);
    let exec: &[Item<String>] = p.spec.exec.allow.as_deref().unwrap_or(&[]);
    let lists: [(&str, &[Item<String>]); 4] = [
        ("filesystem.readOnly", &fs.read_only),
        ("filesystem.readWrite", rw),
        ("filesystem.noExec", &fs.no_exec),
        ("exec.allow", exec),
    ];
    for d in &fs.deny {
        for (what, list) in lists {
            for item in list.iter().filter(|i| deny_covers(&d.value, &i.value)) {
                r.error(&item.at, format!("{:?} in {what} is denied by filesystem.deny {:?} at {}: a denied path cannot be used", item.value, d.value, d.at));
            }
        }
    }
    for w in rw {
        if let Some(ro) = fs.read_only.iter().find(|ro| is_under(&w.value, &ro.value)) {
            r.error(
                &w.at,
                format!(
                    "{:?} in filesystem.readWrite is inside filesystem.readOnly {:?} at {}",
                    w.value, ro.value, ro.at
                ),
            );
        }
    }
    for e in exec {
        if let Some(ne) = fs.no_exec.iter().find(|ne| is_under(&e.value, &ne.value)) {
            r.error(
                &e.at,
                format!(
                    "{:?} in exec.allow is inside filesystem.noExec {:?} at {}",
                    e.value, ne.value, ne.at
                ),
            );
        }
    }
    if let Some(first) = rw.first()
        && fs.read_only_root != Some(true)
    {
        r.warn(&first.at, "filesystem.readWrite only matters with readOnlyRoot: true (the root is writable otherwise)");
    }
    for (what, rules) in [
        ("network.connect", &p.spec.network.connect),
        ("network.bind", &p.spec.network.bind),
    ] {
        let Some(rules) = rules else { continue };
        for (i, a) in rules.iter().enumerate() {
            if rules[..i].iter().any(|b| b.value == a.value) {
                r.warn(&a.at, format!("duplicate entry in {what}.allow"));
            }
        }
    }
}
