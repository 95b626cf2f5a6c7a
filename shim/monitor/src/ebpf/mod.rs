//! eBPF backend (aya 0.14): cgroup sock_addr programs that refuse connect/sendmsg/bind by
//! address and port, and a `sched_process_exec` observer (raw tracepoint), reporting through a ring buffer.
//!
//! One set of programs serves every container; a container is one entry in the pinned
//! `vigil_policy` hash map (key: its unified cgroup id) plus six links of the programs to its
//! cgroup directory, pinned so that enforcement survives the monitor; a later monitor that
//! attaches the same container and cgroup adopts them. Layout of the pin directory (default `/sys/fs/bpf/vigil`):
//! `vigil_policy`, `vigil_events` (maps), `vigil_connect4` ... `vigil_exec` (programs),
//! `exec_link`, `links/<id>/<cgroup id>/<program>`. Detaching the last container removes every pin.

pub mod abi;
mod pins;
mod reader;

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use aya::maps::{MapData, RingBuf};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::{CgroupAttachMode, CgroupSockAddr, RawTracePoint};
use aya::{Ebpf, EbpfLoader, include_bytes_aligned};

use crate::Sink;
use crate::rules::MonitorRules;
use abi::PolicyBytes;

/// The compiled BPF object (bpf/monitor.bpf.c).
pub static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor.bpf.o"));
/// Where the daemon pins its objects.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/vigil";
/// The cgroup sock_addr programs, attached to every container cgroup.
pub const SOCK_ADDR_PROGRAMS: [&str; 6] = [
    "vigil_connect4",
    "vigil_connect6",
    "vigil_sendmsg4",
    "vigil_sendmsg6",
    "vigil_bind4",
    "vigil_bind6",
];
const EXEC_PROGRAM: &str = "vigil_exec";
const POLICY_MAP: &str = "vigil_policy";
const EVENTS_MAP: &str = "vigil_events";
const BPF_FS_MAGIC: u64 = 0xcafe_4a11;

/// Errors of the eBPF backend.
#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("{path:?} is not on a bpf filesystem (mount -t bpf bpf /sys/fs/bpf)")]
    NotBpffs { path: PathBuf },
    #[error("failed to prepare pin directory {path:?}")]
    PinDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to load the monitor's BPF object")]
    Load(#[from] aya::EbpfError),
    #[error("BPF program {name} failed")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("BPF link of {name} is not a bpf_link (kernel older than 5.7?)")]
    Link {
        name: &'static str,
        #[source]
        source: aya::programs::links::LinkError,
    },
    #[error("failed to pin {path:?}")]
    Pin {
        path: PathBuf,
        #[source]
        source: aya::pin::PinError,
    },
    #[error("BPF map {name} failed")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("BPF object has no {name}")]
    Missing { name: &'static str },
    #[error("failed to open cgroup {path:?}")]
    Cgroup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid container id {id:?} (letters, digits, '_', '-', '.' only)")]
    InvalidId { id: String },
    #[error("container {id} is already attached")]
    AlreadyAttached { id: String },
    #[error(transparent)]
    Rules(#[from] abi::AbiError),
    #[error("failed to start the ring buffer thread")]
    Thread(#[source] std::io::Error),
}

/// What the event thread needs to name a cgroup's events.
struct Registered {
    id: String,
    rules: MonitorRules,
}

type Registry = Arc<Mutex<HashMap<u64, Registered>>>;

struct Inner {
    ebpf: Ebpf,
    events: MapData,
    exec_link: Option<PinnedLink>,
    containers: HashMap<String, u64>,
}

/// The loaded programs and maps, shared by every container of the host.
pub struct EbpfMonitor {
    pin_dir: PathBuf,
    inner: Mutex<Inner>,
    registry: Registry,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl EbpfMonitor {
    /// Loads and pins the programs and maps under `pin_dir` (which must be on a bpffs),
    /// reusing maps pinned by an earlier monitor, attaches the exec observer, and starts the
    /// ring buffer thread that reports to `sink`.
    pub fn load(pin_dir: impl AsRef<Path>, sink: Arc<dyn Sink>) -> Result<EbpfMonitor, EbpfError> {
        let pin_dir = pin_dir.as_ref().to_path_buf();
        pins::check_bpffs(&pin_dir)?;
        std::fs::create_dir_all(pin_dir.join("links")).map_err(|source| EbpfError::PinDir {
            path: pin_dir.clone(),
            source,
        })?;
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(&pin_dir)
            .load(OBJECT)?;
        for name in SOCK_ADDR_PROGRAMS {
            let prog: &mut CgroupSockAddr = program(&mut ebpf, name)?;
            prog.load()
                .map_err(|source| EbpfError::Program { name, source })?;
        }
        let tp: &mut RawTracePoint = program(&mut ebpf, EXEC_PROGRAM)?;
        tp.load().map_err(|source| EbpfError::Program {
            name: EXEC_PROGRAM,
            source,
        })?;
        let link_id = tp
            .attach("sched_process_exec")
            .map_err(|source| EbpfError::Program {
                name: EXEC_PROGRAM,
                source,
            })?;
        let link = tp.take_link(link_id).map_err(|source| EbpfError::Program {
            name: EXEC_PROGRAM,
            source,
        })?;
        let link = FdLink::from(link);
        let exec_pin = pin_dir.join("exec_link");
        let _ = std::fs::remove_file(&exec_pin);
        let exec_link = link.pin(&exec_pin).map_err(|source| EbpfError::Pin {
            path: exec_pin,
            source,
        })?;
        let events_pin = pin_dir.join(EVENTS_MAP);
        let events = MapData::from_pin(&events_pin).map_err(|source| EbpfError::Map {
            name: EVENTS_MAP,
            source,
        })?;
        let ring = ebpf
            .take_map(EVENTS_MAP)
            .ok_or(EbpfError::Missing { name: EVENTS_MAP })?;
        let ring = RingBuf::try_from(ring).map_err(|source| EbpfError::Map {
            name: EVENTS_MAP,
            source,
        })?;
        let mut inner = Inner {
            ebpf,
            events,
            exec_link: Some(exec_link),
            containers: HashMap::new(),
        };
        pins::pin_all(&mut inner, &pin_dir, true)?;
        let registry: Registry = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = reader::spawn_reader(ring, registry.clone(), sink, stop.clone())
            .map_err(EbpfError::Thread)?;
        tracing::info!(pin_dir = ?pin_dir, "ebpf monitor loaded");
        Ok(EbpfMonitor {
            pin_dir,
            inner: Mutex::new(inner),
            registry,
            stop,
            reader: Some(reader),
        })
    }

    /// The pin directory.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Enforces `rules` (network part) on the processes of `cgroup_dir` (a cgroup2 directory,
    /// `/sys/fs/cgroup/unified/<cgroupsPath>` on a hybrid host) and reports their execs.
    /// Returns the cgroup id. Call after `create`, before `start`.
    pub fn attach_cgroup(
        &self,
        cgroup_dir: &Path,
        container_id: &str,
        rules: &MonitorRules,
    ) -> Result<u64, EbpfError> {
        if container_id.is_empty()
            || container_id.starts_with('.')
            || !container_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(EbpfError::InvalidId {
                id: container_id.to_string(),
            });
        }
        let policy = abi::encode_policy(rules)?;
        let cgroup = File::open(cgroup_dir).map_err(|source| EbpfError::Cgroup {
            path: cgroup_dir.into(),
            source,
        })?;
        let cgroup_id = cgroup
            .metadata()
            .map_err(|source| EbpfError::Cgroup {
                path: cgroup_dir.into(),
                source,
            })?
            .ino();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.containers.contains_key(container_id) {
            return Err(EbpfError::AlreadyAttached {
                id: container_id.to_string(),
            });
        }
        pins::pin_all(&mut inner, &self.pin_dir, false)?;
        let id_dir = self.pin_dir.join("links").join(container_id);
        let links_dir = id_dir.join(cgroup_id.to_string());
        // Links pinned by an earlier monitor for this very cgroup keep enforcing and use the
        // same pinned map: adopt them (no unguarded window). Anything else is stale.
        let adopted = SOCK_ADDR_PROGRAMS
            .iter()
            .all(|p| links_dir.join(p).exists());
        if !adopted {
            pins::remove_links(&id_dir);
            std::fs::create_dir_all(&links_dir).map_err(|source| EbpfError::PinDir {
                path: links_dir.clone(),
                source,
            })?;
        }
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                cgroup_id,
                Registered {
                    id: container_id.to_string(),
                    rules: rules.clone(),
                },
            );
        let result = set_policy(&mut inner.ebpf, cgroup_id, Some(policy)).and_then(|()| {
            if adopted {
                Ok(())
            } else {
                attach_links(&mut inner.ebpf, &cgroup, &links_dir)
            }
        });
        if let Err(e) = result {
            if !adopted {
                pins::remove_links(&id_dir);
            }
            let _ = set_policy(&mut inner.ebpf, cgroup_id, None);
            self.registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&cgroup_id);
            return Err(e);
        }
        if adopted {
            tracing::info!(container = %container_id, cgroup_id, "ebpf links of an earlier monitor adopted");
        }
        inner.containers.insert(container_id.to_string(), cgroup_id);
        tracing::info!(container = %container_id, cgroup_id, "ebpf attached");
        Ok(cgroup_id)
    }

    /// Removes the container's links and map entry; after the last container, every pin.
    /// Returns whether it was attached.
    pub fn detach(&self, container_id: &str) -> Result<bool, EbpfError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(cgroup_id) = inner.containers.remove(container_id) else {
            return Ok(false);
        };
        pins::remove_links(&self.pin_dir.join("links").join(container_id));
        set_policy(&mut inner.ebpf, cgroup_id, None)?;
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&cgroup_id);
        if policy_is_empty(&mut inner.ebpf)? {
            pins::unpin_all(&self.pin_dir);
        }
        tracing::info!(container = %container_id, cgroup_id, "ebpf detached");
        Ok(true)
    }

    /// Ids of attached containers.
    pub fn attached(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .containers
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for EbpfMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, EbpfError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let prog = ebpf.program_mut(name).ok_or(EbpfError::Missing { name })?;
    prog.try_into()
        .map_err(|source| EbpfError::Program { name, source })
}

fn set_policy(
    ebpf: &mut Ebpf,
    cgroup_id: u64,
    policy: Option<PolicyBytes>,
) -> Result<(), EbpfError> {
    let map = ebpf
        .map_mut(POLICY_MAP)
        .ok_or(EbpfError::Missing { name: POLICY_MAP })?;
    let mut map: aya::maps::HashMap<&mut MapData, u64, PolicyBytes> =
        aya::maps::HashMap::try_from(map).map_err(|source| EbpfError::Map {
            name: POLICY_MAP,
            source,
        })?;
    let result = match policy {
        Some(p) => map.insert(cgroup_id, p, 0),
        None => match map.remove(&cgroup_id) {
            Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            other => other,
        },
    };
    result.map_err(|source| EbpfError::Map {
        name: POLICY_MAP,
        source,
    })
}

fn policy_is_empty(ebpf: &mut Ebpf) -> Result<bool, EbpfError> {
    let map = ebpf
        .map_mut(POLICY_MAP)
        .ok_or(EbpfError::Missing { name: POLICY_MAP })?;
    let map: aya::maps::HashMap<&mut MapData, u64, PolicyBytes> = aya::maps::HashMap::try_from(map)
        .map_err(|source| EbpfError::Map {
            name: POLICY_MAP,
            source,
        })?;
    Ok(map.keys().next().is_none())
}

fn attach_links(ebpf: &mut Ebpf, cgroup: &File, links_dir: &Path) -> Result<(), EbpfError> {
    for name in SOCK_ADDR_PROGRAMS {
        let prog: &mut CgroupSockAddr = program(ebpf, name)?;
        let id = prog
            .attach(cgroup.as_fd(), CgroupAttachMode::Single)
            .map_err(|source| EbpfError::Program { name, source })?;
        let link = prog
            .take_link(id)
            .map_err(|source| EbpfError::Program { name, source })?;
        let link = FdLink::try_from(link).map_err(|source| EbpfError::Link { name, source })?;
        let path = links_dir.join(name);
        // The pin keeps the link (and the attachment) alive after the fd is closed here.
        link.pin(&path)
            .map_err(|source| EbpfError::Pin { path, source })?;
    }
    Ok(())
}
