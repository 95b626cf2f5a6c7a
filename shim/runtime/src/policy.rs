//! The container's policy at `create`: selection, compilation, the OCI edits, and the
//! "shadow bundle" libcontainer builds from.
//!
//! The engine's bundle is never modified. The edited `config.json` (capabilities reduced,
//! limits, masked paths...) is written with the compiled policy to `<root>/@vigil/<id>/`, a
//! root-only directory whose name cannot be a container id; libcontainer builds from there, so
//! `exec` (which reads the container's bundle) sees the same edited spec.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;
use vigil_policy::{CompiledPolicy, HostConfig};

use crate::RuntimeError;

const SHADOW_DIR: &str = "@vigil";
const POLICY_FILE: &str = "policy.json";
const ORIGIN_FILE: &str = "bundle";

/// Selects, loads and compiles the container's policy, and applies its OCI edits to `spec`.
pub(crate) fn prepare(
    config: &HostConfig,
    id: &str,
    spec: &mut Spec,
) -> Result<CompiledPolicy, RuntimeError> {
    let err = |message: String| RuntimeError::Policy {
        id: id.to_owned(),
        message,
    };
    let annotations = spec.annotations().clone().unwrap_or_default();
    let selected =
        vigil_policy::select(config, &annotations, None).map_err(|e| err(e.to_string()))?;
    let policy = vigil_policy::load(config, &selected.name).map_err(|e| err(e.to_string()))?;
    let compiled = vigil_policy::compile(&policy).map_err(|e| err(e.to_string()))?;
    let report = compiled
        .oci
        .apply_for_host(spec, config)
        .map_err(|e| err(e.to_string()))?;
    if !report.not_granted.is_empty() {
        tracing::warn!(container = %id, policy = %compiled.name, capabilities = ?report.not_granted,
            "policy adds capabilities the host configuration does not allow; not granted");
    }
    tracing::debug!(container = %id, policy = %compiled.name, by = ?selected.by, "policy selected");
    Ok(compiled)
}

/// Lets the engine's own seccomp filter pass the three Landlock syscalls, which older engine
/// profiles (Docker 20.10, containerd 1.6) do not list: Landlock can only take rights away from
/// the caller, so allowing it never widens what the workload may do.
pub(crate) fn allow_landlock_syscalls(spec: &mut Spec) {
    use libcontainer::oci_spec::runtime::{LinuxSeccompAction, LinuxSyscallBuilder};
    let Some(mut linux) = spec.linux().clone() else {
        return;
    };
    let Some(mut seccomp) = linux.seccomp().clone() else {
        return;
    };
    if seccomp.default_action() == LinuxSeccompAction::ScmpActAllow {
        return;
    }
    let names = [
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    ];
    let rule = LinuxSyscallBuilder::default()
        .names(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .action(LinuxSeccompAction::ScmpActAllow)
        .build()
        .expect("names and action are all a syscall rule needs");
    let mut syscalls = seccomp.syscalls().clone().unwrap_or_default();
    syscalls.push(rule);
    seccomp.set_syscalls(Some(syscalls));
    linux.set_seccomp(Some(seccomp));
    spec.set_linux(Some(linux));
}

/// The shadow bundle directory of a container.
pub(crate) fn shadow_dir(root: &Path, id: &str) -> PathBuf {
    root.join(SHADOW_DIR).join(id)
}

/// Writes the edited spec (with an absolute rootfs path into the engine's bundle) and the
/// compiled policy; returns the shadow bundle path.
pub(crate) fn write_shadow(
    root: &Path,
    id: &str,
    bundle: &Path,
    spec: &mut Spec,
    compiled: &CompiledPolicy,
) -> Result<PathBuf, RuntimeError> {
    let dir = shadow_dir(root, id);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| RuntimeError::Write {
            path: dir.clone(),
            source,
        })?;
    if let Some(mut r) = spec.root().clone() {
        if r.path().is_relative() {
            r.set_path(bundle.join(r.path()));
        }
        spec.set_root(Some(r));
    }
    let json = serde_json::to_vec_pretty(spec).map_err(|source| RuntimeError::Json {
        what: "edited config.json".into(),
        source,
    })?;
    write_private(&dir.join("config.json"), &json)?;
    let json = serde_json::to_vec(compiled).map_err(|source| RuntimeError::Json {
        what: "compiled policy".into(),
        source,
    })?;
    write_private(&dir.join(POLICY_FILE), &json)?;
    write_private(
        &dir.join(ORIGIN_FILE),
        bundle.as_os_str().as_encoded_bytes(),
    )?;
    Ok(dir)
}

/// The engine's bundle a container was created from (libcontainer's state names the shadow).
pub(crate) fn origin_bundle(root: &Path, id: &str) -> Option<PathBuf> {
    let bytes = fs::read(shadow_dir(root, id).join(ORIGIN_FILE)).ok()?;
    Some(PathBuf::from(String::from_utf8(bytes).ok()?))
}

/// Applies the policy's process edits (capabilities, no_new_privs, rlimits) to an `exec`
/// process file: the engine wrote it from its own spec, which the policy narrowed at create.
pub(crate) fn confine_process_file(
    root: &Path,
    id: &str,
    compiled: &CompiledPolicy,
    config: &HostConfig,
    process_file: &Path,
) -> Result<PathBuf, RuntimeError> {
    let text = fs::read_to_string(process_file).map_err(|source| RuntimeError::Read {
        path: process_file.to_path_buf(),
        source,
    })?;
    let process: libcontainer::oci_spec::runtime::Process =
        serde_json::from_str(&text).map_err(|source| RuntimeError::Json {
            what: process_file.display().to_string(),
            source,
        })?;
    let mut spec = Spec::default();
    spec.set_process(Some(process));
    compiled
        .oci
        .apply_for_host(&mut spec, config)
        .map_err(|e| RuntimeError::Policy {
            id: id.to_owned(),
            message: e.to_string(),
        })?;
    let json = serde_json::to_vec(spec.process()).map_err(|source| RuntimeError::Json {
        what: "confined exec process".into(),
        source,
    })?;
    let path = shadow_dir(root, id).join(format!("exec-{}.json", std::process::id()));
    write_private(&path, &json)?;
    Ok(path)
}

/// The compiled policy a container was created with, if any.
pub(crate) fn load_compiled(root: &Path, id: &str) -> Result<Option<CompiledPolicy>, RuntimeError> {
    let path = shadow_dir(root, id).join(POLICY_FILE);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RuntimeError::Read { path, source }),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| RuntimeError::Json {
            what: path.display().to_string(),
            source,
        })
}

/// Removes a container's shadow bundle.
pub(crate) fn remove_shadow(root: &Path, id: &str) {
    let dir = shadow_dir(root, id);
    if let Err(e) = fs::remove_dir_all(&dir)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = ?dir, error = %e, "failed to remove shadow bundle");
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| RuntimeError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    f.write_all(bytes).map_err(|source| RuntimeError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// How a container is segregated, for the journal's lifecycle record and `vigil audit report`:
/// its effective capabilities, namespaces, seccomp and Landlock state and the data classes its
/// policy labels. Read from the shadow bundle written at create.
pub(crate) fn segregation(
    root: &Path,
    id: &str,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    use serde_json::{Value, json};
    let compiled = load_compiled(root, id).ok().flatten()?;
    let spec = Spec::load(shadow_dir(root, id).join("config.json")).ok()?;
    let caps: Vec<String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.effective().as_ref())
        .map(|set| set.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default();
    let linux = spec.linux().as_ref();
    let namespaces: Vec<Value> = linux
        .and_then(|l| l.namespaces().as_ref())
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    let name = format!("{:?}", n.typ()).to_lowercase();
                    json!(if n.path().is_some() {
                        format!("{name} (joined)")
                    } else {
                        name
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut m = serde_json::Map::new();
    m.insert("policy".into(), json!(compiled.name));
    m.insert("policy_digest".into(), json!(compiled.digest));
    m.insert("mode".into(), json!(compiled.mode));
    m.insert("capabilities".into(), json!(caps));
    m.insert("namespaces".into(), Value::Array(namespaces));
    m.insert(
        "seccomp".into(),
        json!(format!(
            "{} policy rules stacked on {}{}",
            compiled.seccomp.rules.len(),
            if linux.and_then(|l| l.seccomp().as_ref()).is_some() {
                "the engine's profile"
            } else {
                "no engine profile"
            },
            if compiled.seccomp.log_denials {
                ", denials logged"
            } else {
                ""
            }
        )),
    );
    m.insert(
        "landlock".into(),
        json!(if compiled.landlock.is_empty() {
            "none".to_owned()
        } else {
            format!(
                "ABI >= {}, {} path grants, TCP bind {}, TCP connect {}",
                compiled.landlock.min_abi,
                compiled.landlock.fs.len(),
                ports(&compiled.landlock.bind_tcp),
                ports(&compiled.landlock.connect_tcp)
            )
        }),
    );
    m.insert(
        "classes".into(),
        json!(compiled.monitor.data_classes.keys().collect::<Vec<_>>()),
    );
    Some(m)
}

fn ports(p: &Option<Vec<u16>>) -> String {
    match p {
        None => "unrestricted".into(),
        Some(v) if v.is_empty() => "denied".into(),
        Some(v) => v.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
    }
}
