//! One function per command: turns parsed arguments into a runtime call and prints results
//! the way runc does.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, bail};
use libcontainer::oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};
use vigil_runtime::{CreateOptions, ExecOptions, Runtime};

use crate::cli::{Cli, Command};
use crate::journal::ManagementLog;

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let g = cli.global;
    let Some(command) = cli.command else {
        if g.version {
            print_version();
            return Ok(0);
        }
        bail!("no command given; see `vigil --help`");
    };
    let config_path = vigil_policy::config_path(g.config.as_deref());
    let config = vigil_policy::HostConfig::load(&config_path, vigil_policy::Trust::ROOT)
        .with_context(|| format!("host configuration {}", config_path.display()))?;
    if g.systemd_cgroup && !Path::new("/run/systemd/system").exists() {
        bail!(
            "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); configure the engine for the cgroupfs driver"
        );
    }
    // runc's --root wins; engines that pass none (podman) get the host's stateDir.
    let root = g.root.clone().unwrap_or_else(|| config.state_dir.clone());
    let rt = Runtime::with_config(root, g.systemd_cgroup, config);
    if let Command::Policy(cmd) = &command {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        return Ok(vigil_policy::cli::run(
            cmd,
            rt.config(),
            &mut out,
            &mut err,
        )?);
    }
    if let Command::Audit(cmd) = command {
        let mut out = std::io::stdout().lock();
        return Ok(vigil_journal::cli::run(
            cmd,
            &rt.config().journal_dir,
            &mut out,
        )?);
    }
    let Some((action, id)) = management_action(&command) else {
        return query(&rt, command);
    };
    let log = ManagementLog::open(&rt)?;
    // The policy in force, read once: for create, the one it selected; for run, the one seen
    // while the container existed; otherwise the one the container was created with, read
    // before the action (delete removes it).
    let before = match action {
        "create" | "run" => None,
        _ => rt.policy_of(&id),
    };
    let mut seen = Observed {
        policy: None,
        facts: None,
    };
    let result = manage(&rt, command, &mut seen);
    let policy = match action {
        "create" => rt.policy_of(&id),
        "run" => seen.policy,
        _ => before,
    };
    log.record(action, &id, policy, &result);
    let facts = match action {
        "create" => rt.segregation(&id),
        "run" => seen.facts,
        _ => None,
    };
    if result.is_ok()
        && let Some(facts) = facts
    {
        log.lifecycle(&id, "created", facts);
    }
    result
}

/// The journaled name and container of a management command; `None` for queries.
fn management_action(command: &Command) -> Option<(&'static str, String)> {
    Some(match command {
        Command::Create(a) => ("create", a.container_id.clone()),
        Command::Run(a) => ("run", a.container_id.clone()),
        Command::Start(a) => ("start", a.container_id.clone()),
        Command::Kill(a) => ("kill", a.container_id.clone()),
        Command::Delete(a) => ("delete", a.container_id.clone()),
        Command::Exec(a) => ("exec", a.container_id.clone()),
        Command::Pause(a) => ("pause", a.container_id.clone()),
        Command::Resume(a) => ("resume", a.container_id.clone()),
        Command::Update(a) => ("update", a.container_id.clone()),
        _ => return None,
    })
}

/// What a management command saw of its container while it existed (a foreground `run`
/// deletes the container before it returns).
struct Observed {
    policy: Option<(String, String)>,
    facts: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Runs a management command, filling `seen` where the container is gone afterwards.
fn manage(rt: &Runtime, command: Command, seen: &mut Observed) -> anyhow::Result<i32> {
    match command {
        Command::Create(a) => {
            rt.create(
                &a.container_id,
                &CreateOptions {
                    bundle: a.bundle,
                    pid_file: a.pid_file,
                    console_socket: a.console_socket,
                    no_pivot: a.no_pivot,
                    no_new_keyring: a.no_new_keyring,
                    preserve_fds: a.preserve_fds,
                },
            )?;
            Ok(0)
        }
        Command::Run(a) => {
            let opts = CreateOptions {
                bundle: a.bundle,
                pid_file: a.pid_file,
                console_socket: a.console_socket,
                no_pivot: a.no_pivot,
                no_new_keyring: a.no_new_keyring,
                preserve_fds: a.preserve_fds,
            };
            let id = a.container_id.clone();
            Ok(rt.run_with(&id, &opts, a.detach, a.keep, |rt| {
                seen.policy = rt.policy_of(&id);
                seen.facts = rt.segregation(&id);
            })?)
        }
        Command::Start(a) => rt.start(&a.container_id).map(|_| 0).map_err(Into::into),
        Command::Kill(a) => rt
            .kill(&a.container_id, &a.signal, a.all)
            .map(|_| 0)
            .map_err(Into::into),
        Command::Delete(a) => rt
            .delete(&a.container_id, a.force)
            .map(|_| 0)
            .map_err(Into::into),
        Command::Exec(a) => {
            vigil_runtime::selfexe::ensure_protected()?;
            let opts = ExecOptions {
                process: a.process,
                args: a.command,
                detach: a.detach,
                pid_file: a.pid_file,
                console_socket: a.console_socket,
                tty: a.tty,
                cwd: a.cwd,
                env: a.env,
                user: a.user,
                additional_gids: a.additional_gids,
                caps: a.cap,
                no_new_privs: a.no_new_privs,
                preserve_fds: a.preserve_fds,
                ignore_paused: a.ignore_paused,
                cgroup: a.cgroup,
            };
            Ok(rt.exec(&a.container_id, &opts)?)
        }
        Command::Pause(a) => rt.pause(&a.container_id).map(|_| 0).map_err(Into::into),
        Command::Resume(a) => rt.resume(&a.container_id).map(|_| 0).map_err(Into::into),
        Command::Update(a) => {
            let resources = update_resources(&a)?;
            rt.update(&a.container_id, &resources)?;
            Ok(0)
        }
        other => bail!("{other:?} is not a management command"),
    }
}

fn query(rt: &Runtime, command: Command) -> anyhow::Result<i32> {
    match command {
        Command::State(a) => {
            let state = rt.state(&a.container_id)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(0)
        }
        Command::List(a) => list(rt, &a.format, a.quiet),
        Command::Ps(a) => ps(rt, &a.container_id, &a.format, &a.ps_options),
        Command::Features(_) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&vigil_runtime::features()?)?
            );
            Ok(0)
        }
        Command::Spec(a) => {
            let dir = a.bundle.unwrap_or_else(|| ".".into());
            let path = dir.join("config.json");
            if path.exists() {
                bail!("file {} exists; remove it first", path.display());
            }
            let spec = vigil_runtime::default_spec(a.rootless)?;
            let json = serde_json::to_string_pretty(&spec)?;
            std::fs::write(&path, json + "\n")
                .with_context(|| format!("failed to write {}", path.display()))?;
            Ok(0)
        }
        Command::Events(a) => {
            rt.events(&a.container_id, a.interval, a.stats)?;
            Ok(0)
        }
        Command::Doctor { format } => doctor(&format),
        Command::Monitor {
            foreground,
            pin_dir,
        } => monitor(rt, foreground, pin_dir),
        other => bail!("{other:?} is a management command"),
    }
}

/// `vigil monitor [--foreground]`: the daemon here, or started in the background.
fn monitor(rt: &Runtime, foreground: bool, pin_dir: std::path::PathBuf) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let config = rt.config();
    if foreground {
        let opts = vigil_monitord::RunOptions {
            pin_dir,
            // Started by `create`: leave its session; from a terminal, stay in it (Ctrl-C).
            new_session: !std::io::stdin().is_terminal(),
        };
        vigil_monitord::run(config, &opts)?;
        return Ok(0);
    }
    let exe = std::env::current_exe().context("path of the vigil executable")?;
    vigil_monitord::client::ensure_running(config, &exe)?;
    println!(
        "vigil monitor listening on {}",
        config.monitor.socket.display()
    );
    Ok(0)
}

/// `vigil doctor`: one line per layer (or a JSON array), exit 0 either way: a missing layer
/// is information, and `require` in a policy decides whether it stops a container.
fn doctor(format: &str) -> anyhow::Result<i32> {
    let probes = vigil_sys::probe::all();
    match format {
        "json" => {
            let v: Vec<_> = probes
                .iter()
                .map(|p| serde_json::json!({"layer": p.name, "available": p.available, "detail": p.detail}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        "text" => {
            for p in &probes {
                let mark = if p.available { "ok " } else { "no " };
                println!("{mark} {:<22} {}", p.name, p.detail);
            }
        }
        other => bail!("invalid format {other:?}: use text or json"),
    }
    Ok(0)
}

fn print_version() {
    println!("vigil version {}", env!("CARGO_PKG_VERSION"));
    println!("commit: {}", env!("VIGIL_COMMIT"));
    println!("spec: {}", libcontainer::oci_spec::runtime::VERSION);
}

fn list(rt: &Runtime, format: &str, quiet: bool) -> anyhow::Result<i32> {
    let entries = rt.list()?;
    let mut out = std::io::stdout().lock();
    if quiet {
        for e in &entries {
            writeln!(out, "{}", e.id)?;
        }
        return Ok(0);
    }
    match format {
        "json" => writeln!(out, "{}", serde_json::to_string(&entries)?)?,
        "table" => {
            let rows: Vec<[String; 6]> = entries
                .iter()
                .map(|e| {
                    [
                        e.id.clone(),
                        e.pid.to_string(),
                        e.status.clone(),
                        e.bundle.display().to_string(),
                        e.created.clone(),
                        e.owner.clone(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = header.clone().map(|h| h.len());
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.len());
                }
            }
            for r in std::iter::once(&header).chain(&rows) {
                let line: Vec<String> = r
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                writeln!(out, "{}", line.join("   ").trim_end())?;
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(0)
}

fn ps(rt: &Runtime, id: &str, format: &str, ps_args: &[String]) -> anyhow::Result<i32> {
    let pids = rt.pids(id)?;
    match format {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let output = std::process::Command::new("ps")
                .args(&args)
                .output()
                .context("failed to run ps")?;
            if !output.status.success() {
                bail!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .context("ps output has no PID column")?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
        }
        other => bail!("invalid format {other:?}: use table or json"),
    }
    Ok(0)
}

/// `update --resources FILE|-` or runc's individual flags.
fn update_resources(a: &liboci_cli::Update) -> anyhow::Result<LinuxResources> {
    if let Some(path) = &a.resources {
        let (what, text) = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin().lock().read_to_string(&mut s)?;
            ("standard input".to_owned(), s)
        } else {
            let s = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            (path.display().to_string(), s)
        };
        return serde_json::from_str(&text)
            .with_context(|| format!("invalid resources JSON in {what}"));
    }
    let mut b = LinuxResourcesBuilder::default();
    if let Some(limit) = a.pids_limit {
        b = b.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    if a.memory.is_some() || a.memory_reservation.is_some() || a.memory_swap.is_some() {
        let mut m = LinuxMemoryBuilder::default();
        if let Some(v) = a.memory {
            m = m.limit(i64::try_from(v).context("--memory is too large")?);
        }
        if let Some(v) = a.memory_reservation {
            m = m.reservation(i64::try_from(v).context("--memory-reservation is too large")?);
        }
        if let Some(v) = a.memory_swap {
            m = m.swap(v);
        }
        b = b.memory(m.build()?);
    }
    let cpu_set = a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_share.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some();
    if cpu_set {
        let mut c = LinuxCpuBuilder::default();
        if let Some(v) = a.cpu_period {
            c = c.period(v);
        }
        if let Some(v) = a.cpu_quota {
            c = c.quota(i64::try_from(v).context("--cpu-quota is too large")?);
        }
        if let Some(v) = a.cpu_share {
            c = c.shares(v);
        }
        if let Some(v) = a.cpu_rt_period {
            c = c.realtime_period(v);
        }
        if let Some(v) = a.cpu_rt_runtime {
            c = c.realtime_runtime(i64::try_from(v).context("--cpu-rt-runtime is too large")?);
        }
        if let Some(v) = &a.cpuset_cpus {
            c = c.cpus(v.clone());
        }
        if let Some(v) = &a.cpuset_mems {
            c = c.mems(v.clone());
        }
        b = b.cpu(c.build()?);
    }
    if let Some(w) = a.blkio_weight {
        let w = u16::try_from(w).context("--blkio-weight must be 10..1000")?;
        b = b.block_io(LinuxBlockIoBuilder::default().weight(w).build()?);
    }
    Ok(b.build()?)
}
