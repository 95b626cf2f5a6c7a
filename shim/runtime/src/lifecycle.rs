//! `create`, `start`, `run` and `delete`.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::oci_spec::runtime::Spec;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{self, Signal};
use nix::sys::signalfd::SigSet;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::cgroup::{self, UnifiedPlacement};
use crate::policy;
use crate::{Runtime, RuntimeError};

/// The exit status `run` and `exec` return: the process's own, or 128+signal as a shell does.
pub type ExitCode = i32;

/// Options of `create` and `run` (runc's flags).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
}

impl Runtime {
    /// `runc create`: builds the container; its init waits for `start`. Any failure removes
    /// what was created (state, cgroups, processes).
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<(), RuntimeError> {
        self.build(id, opts, true).map(drop)
    }

    /// `runc start`.
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let mut c = self.load(id)?;
        match c.status() {
            ContainerStatus::Created => {}
            ContainerStatus::Stopped => {
                return Err(RuntimeError::WrongState {
                    action: "start",
                    id: id.to_owned(),
                    status: "stopped (cannot start a container that has stopped)".into(),
                });
            }
            other => {
                return Err(RuntimeError::WrongState {
                    action: "start",
                    id: id.to_owned(),
                    status: format!("{other} (cannot start an already running container)"),
                });
            }
        }
        c.start()
            .map_err(|e| RuntimeError::container("start", id, e))
    }

    /// `runc run`: create and start; in the foreground it forwards signals to the container's
    /// init, waits for it, deletes the container (unless `keep`) and returns its exit code.
    pub fn run(
        &self,
        id: &str,
        opts: &CreateOptions,
        detach: bool,
        keep: bool,
    ) -> Result<ExitCode, RuntimeError> {
        self.run_with(id, opts, detach, keep, |_| {})
    }

    /// [`Runtime::run`], calling `started` once the container runs (the CLI journals the policy
    /// in force then: a foreground run deletes the container before it returns).
    pub fn run_with(
        &self,
        id: &str,
        opts: &CreateOptions,
        detach: bool,
        keep: bool,
        started: impl FnOnce(&Self),
    ) -> Result<ExitCode, RuntimeError> {
        let mut c = self.build(id, opts, detach)?;
        if let Err(e) = c.start() {
            self.discard(&mut c);
            return Err(RuntimeError::container("start", id, e));
        }
        started(self);
        if detach {
            return Ok(0);
        }
        let pid = c.pid().ok_or_else(|| RuntimeError::Cgroup {
            id: id.to_owned(),
            message: "started container has no init pid".into(),
        })?;
        let code = foreground(pid);
        if !keep {
            self.discard(&mut c);
        }
        code
    }

    /// `runc delete [--force]`.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let dir = self.container_dir(id)?;
        let mut c = match self.load(id) {
            Ok(c) => c,
            Err(RuntimeError::NotExist { .. }) if dir.exists() => {
                // An aborted create left a directory without state: nothing runs from it.
                fs::remove_dir_all(&dir).map_err(|source| RuntimeError::Write {
                    path: dir.clone(),
                    source,
                })?;
                policy::remove_shadow(&self.root, id);
                return if force {
                    Ok(())
                } else {
                    Err(RuntimeError::NotExist { id: id.to_owned() })
                };
            }
            Err(RuntimeError::NotExist { .. }) if force => {
                policy::remove_shadow(&self.root, id);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if !force
            && matches!(
                c.status(),
                ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Creating
            )
        {
            return Err(RuntimeError::WrongState {
                action: "delete",
                id: id.to_owned(),
                status: format!("{} (it is not stopped)", crate::state::status_name(&c)),
            });
        }
        let unified = unified_dir_of(&c);
        c.delete(force)
            .map_err(|e| RuntimeError::container("delete", id, e))?;
        crate::monitor::detach(&self.config, id);
        if let Some(dir) = unified {
            cgroup::remove(&dir);
        }
        policy::remove_shadow(&self.root, id);
        Ok(())
    }

    fn build(
        &self,
        id: &str,
        opts: &CreateOptions,
        detach: bool,
    ) -> Result<Container, RuntimeError> {
        let dir = self.container_dir(id)?;
        if dir.exists() {
            return Err(RuntimeError::Exists { id: id.to_owned() });
        }
        self.ensure_root()?;
        let bundle = fs::canonicalize(&opts.bundle).map_err(|source| RuntimeError::Read {
            path: opts.bundle.clone(),
            source,
        })?;
        let mut spec = load_spec(&bundle)?;
        if crate::selfexe::visible_to_container(&spec) {
            crate::selfexe::ensure_protected()?;
        }
        if !self.systemd_cgroup {
            default_cgroups_path(&mut spec, id);
        }
        let compiled = policy::prepare(&self.config, id, &mut spec)?;
        crate::layers::check(id, &compiled)?;
        let plan = crate::launch::LaunchPlan::from_policy(id, &compiled)?;
        if plan.landlock.is_some() {
            policy::allow_landlock_syscalls(&mut spec);
        }
        let shadow = policy::write_shadow(&self.root, id, &bundle, &mut spec, &compiled)?;
        let cgroups_path = libcontainer::utils::get_cgroup_path(
            spec.linux().as_ref().map_or(&None, |l| l.cgroups_path()),
            id,
        );
        let placement = match cgroup::unified_dir(&cgroups_path) {
            Some(dir) => match UnifiedPlacement::enter(dir) {
                Ok(p) => Some(p),
                Err(e) => {
                    policy::remove_shadow(&self.root, id);
                    return Err(e);
                }
            },
            None => None,
        };
        if opts.no_new_keyring {
            tracing::debug!(container = %id, "--no-new-keyring: libcontainer creates no session keyring");
        }
        let built = ContainerBuilder::new(id.to_owned(), SyscallType::default())
            .with_executor(crate::executor::VigilExecutor::new(plan))
            .with_root_path(self.root.clone())
            .and_then(|b| b.with_pid_file(opts.pid_file.as_ref()))
            .map(|b| {
                b.with_console_socket(opts.console_socket.as_ref())
                    .with_preserved_fds(opts.preserve_fds)
            })
            .and_then(|b| b.validate_id())
            .and_then(|b| {
                b.as_init(&shadow)
                    .with_systemd(self.systemd_cgroup)
                    .with_detach(detach)
                    .with_no_pivot(opts.no_pivot)
                    .build()
            });
        match built {
            Ok(mut c) => {
                if let Some(p) = &placement {
                    p.leave()?;
                }
                // The monitor attaches while the init waits for `start` (see monitor.rs).
                if crate::monitor::needed(&compiled) {
                    let pid = c.pid().map_or(0, |p| p.as_raw());
                    let unified = unified_dir_of(&c);
                    let attached =
                        crate::monitor::attach(&self.config, id, pid, unified, &compiled);
                    if let Err(e) = attached {
                        self.discard(&mut c);
                        return Err(e);
                    }
                }
                Ok(c)
            }
            Err(e) => {
                if let Some(p) = placement {
                    p.abandon();
                }
                policy::remove_shadow(&self.root, id);
                Err(RuntimeError::container("create", id, e))
            }
        }
    }

    /// Kills and deletes a container this invocation made, after a failure or a foreground run.
    fn discard(&self, c: &mut Container) {
        let unified = unified_dir_of(c);
        if let Err(e) = c.delete(true) {
            tracing::warn!(container = %c.id(), error = %e, "failed to delete container");
        }
        crate::monitor::detach(&self.config, c.id());
        if let Some(dir) = unified {
            cgroup::remove(&dir);
        }
        policy::remove_shadow(&self.root, c.id());
    }

    fn ensure_root(&self) -> Result<(), RuntimeError> {
        match fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
        {
            Ok(()) => Ok(()),
            Err(source) => Err(RuntimeError::Write {
                path: self.root.clone(),
                source,
            }),
        }?;
        // State holds pids and bundle paths of every container: root only.
        let meta = fs::metadata(&self.root).map_err(|source| RuntimeError::Read {
            path: self.root.clone(),
            source,
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700)).map_err(
                |source| RuntimeError::Write {
                    path: self.root.clone(),
                    source,
                },
            )?;
        }
        Ok(())
    }
}

/// runc's cgroupfs default for a spec without `cgroupsPath`: a cgroup named after the
/// container at the root of each hierarchy. (libcontainer's default, `:youki:ID`, is a systemd
/// slice path that cgroupfs takes literally, and its removal is slow.)
fn default_cgroups_path(spec: &mut Spec, id: &str) {
    if let Some(mut linux) = spec.linux().clone()
        && linux.cgroups_path().is_none()
    {
        linux.set_cgroups_path(Some(PathBuf::from(format!("/{id}"))));
        spec.set_linux(Some(linux));
    }
}

/// Reads `config.json`, naming the file and the JSON position on error.
pub(crate) fn load_spec(bundle: &Path) -> Result<Spec, RuntimeError> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).map_err(|source| RuntimeError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| RuntimeError::Json {
        what: path.display().to_string(),
        source,
    })
}

fn unified_dir_of(c: &Container) -> Option<PathBuf> {
    let cfg = c.spec().ok()?;
    cgroup::unified_dir(&cfg.cgroup_path)
}

/// runc's foreground mode: block every signal, forward them to the container's init, reap
/// children, return the init's exit code (128+signal if it was killed).
///
/// The init may have exited before the signals were blocked (a SIGCHLD delivered while its
/// disposition was "ignore" is lost), so children are reaped before every wait, not only after
/// a SIGCHLD.
fn foreground(init: Pid) -> Result<ExitCode, RuntimeError> {
    let all = SigSet::all();
    all.thread_block().map_err(|source| RuntimeError::Sys {
        call: "pthread_sigmask()",
        source,
    })?;
    loop {
        if let Some(code) = reap(init)? {
            return Ok(code);
        }
        let sig = all.wait().map_err(|source| RuntimeError::Sys {
            call: "sigwait()",
            source,
        })?;
        match sig {
            // Reaped at the top of the loop.
            Signal::SIGCHLD => {}
            // Window size changes belong to the terminal, not the workload.
            Signal::SIGURG | Signal::SIGWINCH => {}
            other => {
                if let Err(e) = signal::kill(init, other) {
                    tracing::warn!(signal = ?other, error = %e, "failed to forward signal");
                }
            }
        }
    }
}

/// Reaps every exited child; returns the init's exit code once it has exited.
fn reap(init: Pid) -> Result<Option<ExitCode>, RuntimeError> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(pid, s, _)) if pid == init => return Ok(Some(128 + s as i32)),
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(source) => {
                return Err(RuntimeError::Sys {
                    call: "waitpid()",
                    source,
                });
            }
        }
    }
}
