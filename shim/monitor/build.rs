//! Compiles bpf/*.bpf.c with clang-19 against a vmlinux.h generated from this kernel's BTF.
//!
//! Overrides: `VIGIL_CLANG` (default `clang-19`), `VIGIL_BPFTOOL` (default `bpftool`),
//! `VIGIL_BTF` (default `/sys/kernel/btf/vmlinux`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = std::env::var("VIGIL_CLANG").unwrap_or_else(|_| "clang-19".into());
    let bpftool = std::env::var("VIGIL_BPFTOOL").unwrap_or_else(|_| "bpftool".into());
    let btf = std::env::var("VIGIL_BTF").unwrap_or_else(|_| "/sys/kernel/btf/vmlinux".into());
    for var in ["VIGIL_CLANG", "VIGIL_BPFTOOL", "VIGIL_BTF"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=bpf");

    let vmlinux = out.join("vmlinux.h");
    let dump = Command::new(&bpftool)
        .args(["btf", "dump", "file", &btf, "format", "c"])
        .output()
        .unwrap_or_else(|e| panic!("failed to run {bpftool} (install Debian's bpftool): {e}"));
    assert!(
        dump.status.success(),
        "{bpftool} btf dump file {btf} failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    std::fs::write(&vmlinux, &dump.stdout).expect("write vmlinux.h");

    let bpf_dir = Path::new("bpf");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(bpf_dir)
        .expect("read bpf/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    for src in sources {
        let stem = src
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .trim_end_matches(".c");
        let obj = out.join(format!("{stem}.o"));
        let status = Command::new(&clang)
            .args([
                "-O2",
                "-g",
                "-target",
                "bpf",
                "-D__TARGET_ARCH_x86",
                "-Wall",
                "-Werror",
            ])
            .arg("-I")
            .arg(&out)
            .arg("-I")
            .arg(bpf_dir)
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .unwrap_or_else(|e| panic!("failed to run {clang} (install Debian's clang-19): {e}"));
        assert!(status.success(), "{clang} failed on {}", src.display());
    }
}
