//! The offline test images: busybox from Debian's busybox-static and a static `pause`, laid out
//! with umoci, exported for containerd (oci-archive), docker and podman (docker-archive).
//!
//! Built once per busybox version into `<target>/vigil-integration-cache/<key>/` (staged in a
//! sibling temp dir and renamed into place, so concurrent test binaries never see half a cache).

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::cmd::{self, CmdError};
use crate::runtime::{find_in_path, target_dir};

/// The reference every engine knows the busybox image by.
pub const BUSYBOX_REF: &str = "localhost/vigil-test/busybox:latest";
/// The reference of the pod sandbox image (CRI `sandbox_image`).
pub const PAUSE_REF: &str = "localhost/vigil-test/pause:1";
/// Bumped when the cache layout or image content changes.
const FORMAT: &str = "v1";
const PAUSE_C: &str = include_str!("pause.c");
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("busybox-static not found (apt-get install busybox-static)")]
    NoBusybox,
    #[error("{path:?} is not a static busybox (install busybox-static)")]
    NotStatic { path: PathBuf },
    #[error("i/o on {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("building the test image failed")]
    Cmd(#[from] CmdError),
    #[error("an earlier attempt to build the test images failed: {0}")]
    Earlier(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The built images; see the module doc.
#[derive(Debug)]
pub struct Images {
    dir: PathBuf,
}

impl Images {
    /// The cached images, built on first use in this process (and once per busybox version on
    /// this machine).
    pub fn get() -> Result<&'static Images, ImageError> {
        static IMAGES: OnceLock<Result<Images, String>> = OnceLock::new();
        IMAGES
            .get_or_init(|| Images::build().map_err(|e| error_chain(&e)))
            .as_ref()
            .map_err(|e| ImageError::Earlier(e.clone()))
    }

    /// The cache directory of this image set.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The busybox root filesystem (bin/busybox plus the links `busybox --install -s` makes).
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// The OCI image layout holding tags `busybox` and `pause`.
    pub fn oci_layout(&self) -> PathBuf {
        self.dir.join("oci")
    }
    /// busybox as an oci-archive named [`BUSYBOX_REF`] (for `ctr images import`).
    pub fn busybox_oci_archive(&self) -> PathBuf {
        self.dir.join("busybox.oci.tar")
    }
    /// busybox as a docker-archive named [`BUSYBOX_REF`] (for `docker load`, `podman load`).
    pub fn busybox_docker_archive(&self) -> PathBuf {
        self.dir.join("busybox.docker.tar")
    }
    /// pause as an oci-archive named [`PAUSE_REF`].
    pub fn pause_oci_archive(&self) -> PathBuf {
        self.dir.join("pause.oci.tar")
    }

    fn build() -> Result<Images, ImageError> {
        let busybox = find_in_path("busybox").ok_or(ImageError::NoBusybox)?;
        let version = cmd::run(
            Command::new(&busybox).arg("--help"),
            Duration::from_secs(10),
        )?;
        let first = version
            .stdout
            .lines()
            .chain(version.stderr.lines())
            .next()
            .unwrap_or("unknown")
            .to_string();
        let key: String = format!("{FORMAT}-{first}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let cache = target_dir().join("vigil-integration-cache");
        let dir = cache.join(&key);
        if dir.join("complete").exists() {
            return Ok(Images { dir });
        }
        std::fs::create_dir_all(&cache).map_err(io(&cache))?;
        let stage = tempfile::Builder::new()
            .prefix(".stage-")
            .tempdir_in(&cache)
            .map_err(io(&cache))?;
        build_into(stage.path(), &busybox)?;
        std::fs::write(stage.path().join("complete"), &first).map_err(io(stage.path()))?;
        let staged = stage.keep();
        if let Err(e) = std::fs::rename(&staged, &dir) {
            // Another process won the race; use its copy.
            let _ = std::fs::remove_dir_all(&staged);
            if !dir.join("complete").exists() {
                return Err(io(&dir)(e));
            }
        }
        Ok(Images { dir })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn run(c: &mut Command) -> Result<(), ImageError> {
    cmd::run(c, Duration::from_secs(120))?.ok()?;
    Ok(())
}

fn build_into(stage: &Path, busybox: &Path) -> Result<(), ImageError> {
    let file = cmd::run(
        Command::new("file").arg("-L").arg(busybox),
        Duration::from_secs(10),
    );
    if file.is_ok_and(|o| o.status.success() && o.stdout.contains("dynamically linked")) {
        return Err(ImageError::NotStatic {
            path: busybox.to_path_buf(),
        });
    }
    let rootfs = stage.join("rootfs");
    make_busybox_rootfs(&rootfs, busybox)?;
    let layout = stage.join("oci");
    let img = |tag: &str| format!("{}:{tag}", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout))?;

    run(Command::new("umoci").args(["new", "--image", &img("busybox")]))?;
    run(Command::new("umoci")
        .args(["insert", "--image", &img("busybox")])
        .arg(&rootfs)
        .arg("/"))?;
    run(Command::new("umoci")
        .args(["config", "--image", &img("busybox")])
        .args([
            "--config.cmd=sh",
            &format!("--config.env={PATH_ENV}"),
            "--config.workingdir=/",
            "--os=linux",
            "--architecture=amd64",
        ]))?;

    let pause_root = stage.join("pause-rootfs");
    std::fs::create_dir_all(&pause_root).map_err(io(&pause_root))?;
    let src = stage.join("pause.c");
    std::fs::write(&src, PAUSE_C).map_err(io(&src))?;
    run(Command::new("gcc")
        .args(["-static", "-O2", "-s", "-o"])
        .arg(pause_root.join("pause"))
        .arg(&src))?;
    run(Command::new("umoci").args(["new", "--image", &img("pause")]))?;
    run(Command::new("umoci")
        .args(["insert", "--image", &img("pause")])
        .arg(&pause_root)
        .arg("/"))?;
    run(Command::new("umoci")
        .args(["config", "--image", &img("pause")])
        .args([
            "--config.entrypoint=/pause",
            "--os=linux",
            "--architecture=amd64",
        ]))?;
    run(Command::new("umoci").args(["gc", "--layout"]).arg(&layout))?;

    let copy = |tag: &str, dest: String| -> Result<(), ImageError> {
        run(Command::new("skopeo").args([
            "--insecure-policy",
            "copy",
            "--quiet",
            &format!("oci:{}", img(tag)),
            &dest,
        ]))
    };
    copy(
        "busybox",
        format!(
            "oci-archive:{}:{BUSYBOX_REF}",
            stage.join("busybox.oci.tar").display()
        ),
    )?;
    copy(
        "busybox",
        format!(
            "docker-archive:{}:{BUSYBOX_REF}",
            stage.join("busybox.docker.tar").display()
        ),
    )?;
    copy(
        "pause",
        format!(
            "oci-archive:{}:{PAUSE_REF}",
            stage.join("pause.oci.tar").display()
        ),
    )?;
    Ok(())
}

/// A busybox root filesystem: the static binary plus one symlink per applet at the paths
/// `busybox --install -s` would use (from `busybox --list-full`, so no chroot is needed), and a
/// minimal /etc.
pub fn make_busybox_rootfs(rootfs: &Path, busybox: &Path) -> Result<(), ImageError> {
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev", "root", "run",
        "var",
    ] {
        let p = rootfs.join(d);
        std::fs::create_dir_all(&p).map_err(io(&p))?;
    }
    let bin = rootfs.join("bin/busybox");
    std::fs::copy(busybox, &bin).map_err(io(&bin))?;
    let list = cmd::run(
        Command::new(busybox).arg("--list-full"),
        Duration::from_secs(10),
    )?
    .ok()?;
    for applet in list
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "bin/busybox")
    {
        let link = rootfs.join(applet);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if !link.exists() {
            symlink("/bin/busybox", &link).map_err(io(&link))?;
        }
    }
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnobody:x:65534:\n"),
        ("etc/hosts", "127.0.0.1 localhost\n"),
        ("etc/resolv.conf", ""),
        ("etc/hostname", "busybox\n"),
    ];
    for (f, content) in files {
        let p = rootfs.join(f);
        std::fs::write(&p, content).map_err(io(&p))?;
    }
    std::fs::set_permissions(
        rootfs.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .map_err(io(rootfs))?;
    Ok(())
}
