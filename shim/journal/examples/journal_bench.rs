//! Benchmarks for the journal (not tests): `cargo run --release -p vigil-journal --example
//! journal_bench -- <append|verify|report> N DIR`. Prints one JSON object per measurement.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vigil_journal::{Entry, Journal, JournalOptions, Kind, SyncPolicy, query::Filter, segment};

fn entry(i: u64) -> Entry {
    match i % 10 {
        0 => Entry::management(
            "exec",
            &format!("c{}", i % 50),
            &vigil_journal::Caller::default(),
            Some("pci"),
            Some("b3:0123456789abcdef"),
        ),
        1 => Entry::new(Kind::Lifecycle)
            .container(format!("c{}", i % 50))
            .with("state", "running")
            .with("policy", "pci")
            .with("capabilities", ["CAP_NET_BIND_SERVICE"])
            .with("classes", ["pci"]),
        2..=4 => Entry::decision(
            &format!("c{}", i % 50),
            "fanotify",
            "cards",
            "/data/cards.db",
            "audit",
        )
        .with("class", "pci")
        .with("pid", 4242)
        .with("exe", "/usr/bin/python3"),
        _ => Entry::decision(
            &format!("c{}", i % 50),
            "landlock",
            "no-etc",
            &format!("/etc/secret/{}", i % 97),
            "deny",
        )
        .with("pid", 4242)
        .with("exe", "/usr/bin/cat"),
    }
}

fn opts() -> JournalOptions {
    JournalOptions {
        sync: SyncPolicy::Batch {
            max_records: 512,
            max_delay: Duration::from_millis(50),
        },
        epoch_records: Some(10_000),
        epoch_duration: None,
        max_segment_bytes: 64 << 20,
        host: Some("bench-host".into()),
        ..JournalOptions::default()
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    segment::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn append(n: u64, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let key = vigil_journal::init(dir, opts()).unwrap().unwrap();
    std::fs::write(dir.with_extension("key"), &key).unwrap();
    let entries: Vec<Entry> = (0..n).map(entry).collect();
    if std::env::var_os("BENCH_BREAKDOWN").is_some() {
        let t = Instant::now();
        let mut buf = Vec::with_capacity(1 << 20);
        let mut prev = [0u8; 32];
        for (i, e) in entries.iter().enumerate() {
            prev = vigil_journal::record::encode(
                i as u64,
                "2026-01-01T00:00:00.000000Z",
                "bench-host",
                e,
                &prev,
                &mut buf,
            );
            buf.push(b'\n');
            if buf.len() > 1 << 19 {
                buf.clear();
            }
        }
        eprintln!("encode+hash only: {:.3}s", secs(t.elapsed()));
        let c = entries.clone();
        let t = Instant::now();
        drop(c);
        eprintln!("dropping entries: {:.3}s", secs(t.elapsed()));
    }
    let consumed = entries.clone();
    let t = Instant::now();
    let j = Journal::open(dir, opts()).unwrap();
    for e in consumed {
        j.append(e).unwrap();
    }
    drop(j);
    let journal = t.elapsed();
    if std::env::var_os("BENCH_APPEND_ONLY").is_some() {
        eprintln!("journal append {:.3}s", secs(journal));
        return;
    }
    // Baseline 1: the same bytes, written with a BufWriter, fsync every 512 lines.
    let mut bytes = Vec::new();
    for p in files(dir) {
        bytes.extend(std::fs::read(p).unwrap());
    }
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let plain_path = dir.with_extension("plain");
    let t = Instant::now();
    let f = std::fs::File::create(&plain_path).unwrap();
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, f);
    for (i, l) in lines.iter().enumerate() {
        w.write_all(l).unwrap();
        if (i + 1) % 512 == 0 {
            w.flush().unwrap();
            w.get_ref().sync_data().unwrap();
        }
    }
    w.flush().unwrap();
    w.get_ref().sync_data().unwrap();
    let plain = t.elapsed();
    // Baseline 2: serde_json of the same entries (no chain, no seal), same fsync cadence;
    // entries consumed as the journal consumes them.
    let t = Instant::now();
    let f = std::fs::File::create(&plain_path).unwrap();
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, f);
    for (i, e) in entries.into_iter().enumerate() {
        serde_json::to_writer(&mut w, &e).unwrap();
        drop(e);
        w.write_all(b"\n").unwrap();
        if (i + 1) % 512 == 0 {
            w.flush().unwrap();
            w.get_ref().sync_data().unwrap();
        }
    }
    w.flush().unwrap();
    w.get_ref().sync_data().unwrap();
    let serde_plain = t.elapsed();
    let _ = std::fs::remove_file(&plain_path);
    println!(
        "{{\"bench\":\"append\",\"records\":{n},\"bytes\":{},\"journal_s\":{:.3},\"plain_same_bytes_s\":{:.3},\"plain_serde_s\":{:.3},\"ratio_vs_same_bytes\":{:.2},\"ratio_vs_serde\":{:.2}}}",
        bytes.len(),
        secs(journal),
        secs(plain),
        secs(serde_plain),
        secs(journal) / secs(plain),
        secs(journal) / secs(serde_plain)
    );
}

fn verify(dir: &Path) {
    let key = std::fs::read_to_string(dir.with_extension("key"))
        .ok()
        .map(|k| vigil_journal::parse_key(&k).unwrap());
    let segs = files(dir);
    let bytes: u64 = segs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    // Warm the page cache for both.
    for p in &segs {
        let _ = std::fs::read(p);
    }
    if std::env::var_os("BENCH_UNKEYED_ONLY").is_some() {
        for _ in 0..5 {
            let t = Instant::now();
            let r = vigil_journal::verify(dir, None).unwrap();
            eprintln!("unkeyed verify {:.3}s ok={}", secs(t.elapsed()), r.ok());
        }
        return;
    }
    if std::env::var_os("BENCH_KEYED_ONLY").is_some() {
        for _ in 0..10 {
            let t = Instant::now();
            let r = vigil_journal::verify(dir, key.as_ref()).unwrap();
            eprintln!("keyed verify {:.3}s bulk={}", secs(t.elapsed()), r.bulk);
        }
        return;
    }
    let t = Instant::now();
    let r = vigil_journal::verify(dir, key.as_ref()).unwrap();
    let ours = t.elapsed();
    assert!(r.ok(), "{r:?}");
    let t = Instant::now();
    let r2 = vigil_journal::verify(dir, None).unwrap();
    let unkeyed = t.elapsed();
    assert!(r2.ok(), "{r2:?}");
    let t = Instant::now();
    let st = std::process::Command::new("b3sum")
        .args(&segs)
        .stdout(std::process::Stdio::null())
        .status();
    let b3 = t.elapsed();
    let b3sum = matches!(st, Ok(s) if s.success());
    let t = Instant::now();
    for p in &segs {
        let data = std::fs::read(p).unwrap();
        std::hint::black_box(blake3::hash(&data));
    }
    let crate_hash = t.elapsed();
    println!(
        "{{\"bench\":\"verify\",\"records\":{},\"bytes\":{bytes},\"seals_verified\":{},\"verify_s\":{:.3},\"verify_without_key_s\":{:.3},\"b3sum_s\":{},\"blake3_crate_s\":{:.3},\"ratio_vs_b3sum\":{},\"ratio_vs_blake3_crate\":{:.2}}}",
        r.records,
        r.seals_verified,
        secs(ours),
        secs(unkeyed),
        if b3sum {
            format!("{:.3}", secs(b3))
        } else {
            "null".into()
        },
        secs(crate_hash),
        if b3sum {
            format!("{:.2}", secs(ours) / secs(b3))
        } else {
            "null".into()
        },
        secs(ours) / secs(crate_hash)
    );
}

fn report(dir: &Path) {
    if std::env::var_os("BENCH_SCAN").is_some() {
        let t = Instant::now();
        let mut n = 0u64;
        vigil_journal::query::for_each_record(dir, |_, _| {
            n += 1;
            true
        })
        .unwrap();
        eprintln!("parse only: {n} records {:.3}s", secs(t.elapsed()));
    }
    let t = Instant::now();
    let rep = vigil_journal::report::build(dir, &Filter::default()).unwrap();
    let built = t.elapsed();
    let t = Instant::now();
    let html = vigil_journal::render::html(&rep);
    let rendered = t.elapsed();
    println!(
        "{{\"bench\":\"report\",\"records\":{},\"containers\":{},\"build_s\":{:.3},\"html_s\":{:.3},\"html_bytes\":{}}}",
        rep.records,
        rep.containers.len(),
        secs(built),
        secs(rendered),
        html.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: journal_bench <append|verify|report> N DIR";
    let (Some(mode), Some(n), Some(dir)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("N is a number");
    let dir = PathBuf::from(dir);
    match mode.as_str() {
        "append" => append(n, &dir),
        "verify" => verify(&dir),
        "report" => report(&dir),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
