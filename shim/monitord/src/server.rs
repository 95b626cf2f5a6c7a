//! The daemon: socket, requests, the monitor, the journal, restart.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SigSet;
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use vigil_journal::{Entry, Journal, JournalOptions, Kind};
use vigil_monitor::{Access, ContainerIdentity, DecisionEvent, Monitor, Sink};

use crate::proto::{AttachRequest, Reply, Request};
use crate::registry::{self, Attached, Registry};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("failed to prepare {path:?}")]
    Setup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another vigil monitor holds {path:?}")]
    AlreadyRunning { path: PathBuf },
    #[error("failed to open the journal")]
    Journal(#[source] vigil_journal::JournalError),
}

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// bpffs directory for the eBPF programs and maps (`/sys/fs/bpf/vigil`).
    pub pin_dir: PathBuf,
    /// Call setsid() first (when started on demand by `create`).
    pub new_session: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            pin_dir: PathBuf::from("/sys/fs/bpf/vigil"),
            new_session: false,
        }
    }
}

/// What the daemon knows of one attached container.
pub(crate) struct Info {
    pub(crate) attached: Attached,
    pub(crate) pid_ns: u64,
}

/// State shared by the request threads, the sink and the audit reader.
pub(crate) struct Shared {
    pub(crate) journal: Journal,
    pub(crate) containers: Mutex<HashMap<String, Info>>,
    pub(crate) registry_path: PathBuf,
}

impl Shared {
    pub(crate) fn append(&self, e: Entry) {
        if let Err(e) = self.journal.append(e) {
            tracing::error!(error = %e, "journal append failed");
        }
    }

    /// Appends and flushes: attach/detach records are durable before the reply, and the
    /// journal lock is released for the `vigil` command waiting on the reply (it journals its
    /// own record next; a batch would hold the lock up to 50 ms).
    fn append_now(&self, e: Entry) {
        self.append(e);
        if let Err(e) = self.journal.flush() {
            tracing::error!(error = %e, "journal flush failed");
        }
    }

    fn save(&self, map: &HashMap<String, Info>) {
        let reg = Registry {
            containers: map.values().map(|i| i.attached.clone()).collect(),
        };
        if let Err(e) = reg.save(&self.registry_path) {
            tracing::error!(error = %e, "monitor registry not saved");
        }
    }

    /// (policy, digest) of a container.
    pub(crate) fn policy_of(&self, id: &str) -> Option<(String, String)> {
        let map = self.containers.lock().ok()?;
        let r = &map.get(id)?.attached.request;
        Some((r.policy.clone(), r.policy_digest.clone()))
    }
}

struct JournalSink(Arc<Shared>);

impl Sink for JournalSink {
    fn report(&self, e: DecisionEvent) {
        let (action, object) = match &e.access {
            Access::Open { path } => ("open", path.clone()),
            Access::Exec { path } => ("exec", path.clone()),
            Access::Connect { addr, .. } => ("connect", addr.to_string()),
            Access::Send { addr, .. } => ("send", addr.to_string()),
            Access::Bind { addr, .. } => ("bind", addr.to_string()),
        };
        let layer = serde_json::to_value(e.layer).ok();
        let verdict = serde_json::to_value(e.verdict).ok();
        let str_of = |v: Option<serde_json::Value>| {
            v.and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let mut entry = Entry::decision(
            &e.container,
            &str_of(layer),
            e.rule.as_deref().unwrap_or(""),
            &object,
            &str_of(verdict),
        )
        .with("action", action)
        .with("pid", e.pid)
        .with("exe", &e.exe);
        if let Some((p, d)) = self.0.policy_of(&e.container) {
            entry = entry.with("policy", p).with("policy_digest", d);
        }
        self.0.append(entry);
    }
}

/// Runs the daemon until SIGTERM/SIGINT (flushes the journal then) or a fatal setup error.
pub fn run(config: &vigil_policy::HostConfig, opts: &RunOptions) -> Result<(), ServerError> {
    if opts.new_session {
        let _ = nix::unistd::setsid();
    }
    let socket = &config.monitor.socket;
    let dir = socket.parent().unwrap_or(Path::new("/")).to_path_buf();
    let setup = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServerError::Setup { path, source }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(setup(&dir))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(setup(&dir))?;
    let lock_path = dir.join("monitor.lock");
    let lock_file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(setup(&lock_path))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| ServerError::AlreadyRunning { path: lock_path })?;
    // Signals: handled by one thread, so the journal is flushed before exit.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    let _ = signals.thread_block();
    let _ = fs::remove_file(socket);
    let listener = UnixListener::bind(socket).map_err(setup(socket))?;
    fs::set_permissions(socket, fs::Permissions::from_mode(0o600)).map_err(setup(socket))?;
    let pid_file = registry::pid_file_for(socket);
    fs::write(&pid_file, std::process::id().to_string()).map_err(setup(&pid_file))?;
    let journal = Journal::open(&config.journal_dir, JournalOptions::daemon())
        .map_err(ServerError::Journal)?;
    let shared = Arc::new(Shared {
        journal,
        containers: Mutex::new(HashMap::new()),
        registry_path: registry::path_for(socket),
    });
    let monitor = Arc::new(Monitor::new(
        Arc::new(JournalSink(shared.clone())),
        &opts.pin_dir,
    ));
    let heartbeat = registry::heartbeat_for(socket);
    restore(&shared, &monitor, registry::last_beat(&heartbeat));
    registry::beat(&heartbeat);
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = signals.wait();
            tracing::info!("vigil monitor stopping");
            let _ = shared.journal.flush();
            std::process::exit(0);
        });
    }
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            registry::beat(&heartbeat);
        }
    });
    crate::kaudit::spawn(shared.clone());
    tracing::info!(socket = %socket.display(), "vigil monitor listening");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (shared, monitor) = (shared.clone(), monitor.clone());
        std::thread::spawn(move || serve(stream, &shared, &monitor));
    }
    Ok(())
}

/// Re-attaches the containers of the last daemon whose init still runs; journals the gap.
fn restore(shared: &Shared, monitor: &Monitor, last_beat: Option<u64>) {
    let reg = Registry::load(&shared.registry_path);
    let now = registry::now_ms();
    let mut map = match shared.containers.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    for a in reg.containers {
        let id = a.request.id.clone();
        let alive = registry::start_time(a.request.init_pid) == Some(a.init_start_time);
        shared.append(
            Entry::new(Kind::Gap)
                .container(&id)
                .with("reason", "vigil monitor was not running")
                .with("from_ms", last_beat)
                .with("to_ms", now)
                .with("policy", &a.request.policy)
                .with("policy_digest", &a.request.policy_digest),
        );
        if !alive {
            // Map entries of a gone container in adopted eBPF pins.
            if let Err(e) = monitor.detach(&id) {
                tracing::warn!(container = %id, error = %error_chain(&e), "detach of a gone container failed");
            }
            shared.append(
                Entry::new(Kind::Detach)
                    .container(&id)
                    .with("reason", "init exited while the monitor was not running"),
            );
            continue;
        }
        match do_attach(shared, monitor, &a.request) {
            Ok((entry, pid_ns)) => {
                shared.append(entry.with("restart", true));
                map.insert(
                    id,
                    Info {
                        attached: a,
                        pid_ns,
                    },
                );
            }
            Err(e) => {
                tracing::error!(container = %id, error = %e, "re-attach failed");
                shared.append(
                    Entry::new(Kind::Gap)
                        .container(&id)
                        .with("reason", format!("re-attach after restart failed: {e}")),
                );
            }
        }
    }
    shared.save(&map);
}

fn serve(stream: UnixStream, shared: &Shared, monitor: &Monitor) {
    let reply = match getsockopt(&stream, PeerCredentials) {
        Ok(c) if c.uid() == 0 => read_request(&stream)
            .map(|r| handle(r, shared, monitor))
            .unwrap_or_else(Reply::err),
        Ok(c) => Reply::err(format!("uid {} may not use the vigil monitor", c.uid())),
        Err(e) => Reply::err(format!("SO_PEERCRED failed: {e}")),
    };
    let mut line = serde_json::to_string(&reply).unwrap_or_else(|_| r#"{"ok":false}"#.into());
    line.push('\n');
    let _ = (&stream).write_all(line.as_bytes());
}

fn read_request(stream: &UnixStream) -> Result<Request, String> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| format!("reading the request failed: {e}"))?;
    serde_json::from_str(line.trim()).map_err(|e| format!("invalid request: {e}"))
}

fn handle(req: Request, shared: &Shared, monitor: &Monitor) -> Reply {
    match req {
        Request::Ping => Reply::ok(),
        Request::Attach(r) => {
            let mut map = match shared.containers.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            if map.contains_key(&r.id) {
                return Reply::err(format!("container {} is already attached", r.id));
            }
            let Some(init_start_time) = registry::start_time(r.init_pid) else {
                return Reply::err(format!(
                    "init pid {} of container {} is not running",
                    r.init_pid, r.id
                ));
            };
            match do_attach(shared, monitor, &r) {
                Ok((entry, pid_ns)) => {
                    let id = r.id.clone();
                    let attached = Attached {
                        request: *r,
                        init_start_time,
                    };
                    map.insert(id, Info { attached, pid_ns });
                    shared.save(&map);
                    drop(map);
                    shared.append_now(entry);
                    Reply::ok()
                }
                Err(e) => Reply::err(e),
            }
        }
        Request::Detach { id } => {
            let mut map = match shared.containers.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            let Some(info) = map.remove(&id) else {
                return Reply::err(format!("container {id} is not attached"));
            };
            let result = monitor.detach(&id);
            shared.save(&map);
            drop(map);
            let r = &info.attached.request;
            let mut e = Entry::new(Kind::Detach)
                .container(&id)
                .with("policy", &r.policy)
                .with("policy_digest", &r.policy_digest);
            if let Err(err) = &result {
                e = e.with("error", error_chain(err));
            }
            shared.append_now(e);
            match result {
                Ok(()) => Reply::ok(),
                Err(err) => Reply::err(error_chain(&err)),
            }
        }
    }
}

/// Attaches; returns the `attach` record to journal and the container's pid namespace.
fn do_attach(
    _shared: &Shared,
    monitor: &Monitor,
    r: &AttachRequest,
) -> Result<(Entry, u64), String> {
    let identity = ContainerIdentity::from_pid(&r.id, r.init_pid).map_err(|e| error_chain(&e))?;
    let pid_ns = identity.pid_ns;
    let started = std::time::Instant::now();
    let a = monitor
        .attach(identity, r.cgroup_dir.as_deref(), &r.rules)
        .map_err(|e| error_chain(&e))?;
    let entry = Entry::new(Kind::Attach)
        .container(&r.id)
        .with("pid", r.init_pid)
        .with("policy", &r.policy)
        .with("policy_digest", &r.policy_digest)
        .with("fanotify", &a.fanotify)
        .with("ebpf", &a.ebpf)
        .with("attach_us", started.elapsed().as_micros() as u64);
    Ok((entry, pid_ns))
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
