//! `exec`: a new process in a running container.

use std::fs;
use std::path::PathBuf;

use libcontainer::container::ContainerStatus;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{WaitStatus, waitpid};

use crate::lifecycle::{ExitCode, load_spec};
use crate::{Runtime, RuntimeError};

/// runc's `exec` flags.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub preserve_fds: i32,
    pub ignore_paused: bool,
    pub cgroup: Option<String>,
}

impl Runtime {
    /// `runc exec`: returns the process's exit code, or 0 at once with `--detach`.
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<ExitCode, RuntimeError> {
        let c = self.load(id)?;
        match c.status() {
            ContainerStatus::Running => {}
            ContainerStatus::Paused if opts.ignore_paused => {}
            ContainerStatus::Paused => {
                return Err(RuntimeError::WrongState {
                    action: "exec into",
                    id: id.to_owned(),
                    status: "paused".into(),
                });
            }
            _ => {
                return Err(RuntimeError::NotRunning {
                    action: "exec into",
                    id: id.to_owned(),
                });
            }
        }
        if opts.process.is_none() && opts.args.is_empty() {
            return Err(RuntimeError::InvalidArgument(
                "exec needs a command or --process".into(),
            ));
        }
        // `--tty` with a command line: write a process.json from the container's own process
        // with terminal set, as libcontainer takes the terminal flag from the process spec.
        let tty_process = if opts.tty && opts.process.is_none() {
            Some(self.tty_process_file(id, c.bundle(), opts)?)
        } else {
            None
        };
        // The exec'd process is confined like the init: the policy's process edits on the
        // engine's process file, and the same launch-time layers.
        let compiled = crate::policy::load_compiled(&self.root, id)?;
        let confined = match (&compiled, &opts.process) {
            (Some(c), Some(file)) => Some(crate::policy::confine_process_file(
                &self.root,
                id,
                c,
                &self.config,
                file,
            )?),
            _ => None,
        };
        let plan = match &compiled {
            Some(c) => crate::launch::LaunchPlan::from_policy(id, c)?,
            None => crate::launch::LaunchPlan::default(),
        };
        let process = tty_process
            .as_ref()
            .or(confined.as_ref())
            .or(opts.process.as_ref());
        let (user, group) = match opts.user {
            Some((u, g)) => (Some(u), g),
            None => (None, None),
        };
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
                b.as_tenant()
                    .with_detach(opts.detach)
                    .with_cwd(opts.cwd.as_ref())
                    .with_env(opts.env.iter().cloned().collect())
                    .with_process(process)
                    .with_no_new_privs(opts.no_new_privs)
                    .with_container_args(if process.is_some() {
                        Vec::new()
                    } else {
                        opts.args.clone()
                    })
                    .with_additional_gids(opts.additional_gids.clone())
                    .with_user(user)
                    .with_group(group)
                    .with_capabilities(opts.caps.clone())
                    .with_ignore_paused(opts.ignore_paused)
                    .with_sub_cgroup(opts.cgroup.clone())
                    .build()
            });
        for p in tty_process.iter().chain(confined.iter()) {
            let _ = fs::remove_file(p);
        }
        let pid = built.map_err(|e| RuntimeError::container("exec into", id, e))?;
        if opts.detach {
            return Ok(0);
        }
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => Ok(128 + sig as i32),
            Ok(_) => Ok(0),
            Err(source) => Err(RuntimeError::Sys {
                call: "waitpid()",
                source,
            }),
        }
    }

    fn tty_process_file(
        &self,
        id: &str,
        bundle: &std::path::Path,
        opts: &ExecOptions,
    ) -> Result<PathBuf, RuntimeError> {
        let spec = load_spec(bundle)?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_terminal(Some(true));
        process.set_args(Some(opts.args.clone()));
        if let Some(cwd) = &opts.cwd {
            process.set_cwd(cwd.clone());
        }
        if !opts.env.is_empty() {
            let mut env = process.env().clone().unwrap_or_default();
            env.extend(opts.env.iter().map(|(k, v)| format!("{k}={v}")));
            process.set_env(Some(env));
        }
        let path = self
            .container_dir(id)?
            .join(format!("exec-process-{}.json", std::process::id()));
        let json = serde_json::to_vec(&process).map_err(|source| RuntimeError::Json {
            what: "exec process".into(),
            source,
        })?;
        fs::write(&path, json).map_err(|source| RuntimeError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}
