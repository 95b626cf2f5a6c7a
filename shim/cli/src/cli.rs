//! The command line: runc's global flags and commands (liboci-cli's structs, as youki uses).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::log::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    about = "vigil: a runc-compatible container runtime that enforces a security policy",
    disable_version_flag = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug)]
pub struct GlobalOpts {
    /// Root directory for container state (default: the host configuration's stateDir,
    /// /run/vigil)
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Log file (default: stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use the systemd cgroup manager
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Host configuration (default: $VIGIL_CONFIG, else /etc/vigil/config.yaml)
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container (its init waits for `start`)
    Create(liboci_cli::Create),
    /// Start a created container
    Start(liboci_cli::Start),
    /// Create and start a container
    Run(liboci_cli::Run),
    /// Print a container's state as JSON
    State(liboci_cli::State),
    /// List containers
    List(liboci_cli::List),
    /// Send a signal to a container's init (or all its processes)
    Kill(Kill),
    /// Delete a container
    Delete(liboci_cli::Delete),
    /// Run a process in a running container
    Exec(liboci_cli::Exec),
    /// List a container's processes
    Ps(liboci_cli::Ps),
    /// Freeze a container's processes
    Pause(liboci_cli::Pause),
    /// Thaw a paused container
    Resume(liboci_cli::Resume),
    /// Change a container's resource limits
    Update(liboci_cli::Update),
    /// Print the OCI runtime features JSON
    Features(liboci_cli::Features),
    /// Write a default config.json
    Spec(liboci_cli::Spec),
    /// Print a container's stats or OOM events
    Events(liboci_cli::Events),
    /// Check, compile and import policies
    #[command(subcommand)]
    Policy(vigil_policy::cli::PolicyCommand),
    /// Which enforcement layers work on this host, and why the others do not
    Doctor {
        /// Output format
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Verify, query, report and export the audit journal
    #[command(subcommand)]
    Audit(vigil_journal::cli::AuditCommand),
    /// Run the per-host monitor daemon (fanotify, eBPF, kernel audit records -> journal)
    Monitor {
        /// Run the daemon in this process (systemd; `create` starts it so); without it, start
        /// it in the background unless it runs, and return once it answers
        #[arg(long)]
        foreground: bool,
        /// bpffs directory of the eBPF programs and maps
        #[arg(
            long,
            env = "VIGIL_MONITOR_PIN_DIR",
            default_value = "/sys/fs/bpf/vigil"
        )]
        pin_dir: std::path::PathBuf,
    },
}

/// `kill [--all] ID [SIGNAL]`: runc's default signal is SIGTERM.
#[derive(Args, Debug)]
pub struct Kill {
    /// Send the signal to every process of the container
    #[arg(short, long)]
    pub all: bool,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub container_id: String,
    /// Signal name or number (KILL, SIGTERM, 9)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("vigil").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?} must parse: {e}"))
    }

    #[test]
    fn containerd_create_line() {
        let cli = parse(&[
            "--root",
            "/run/containerd/runc/k8s.io",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "web",
        ]);
        assert_eq!(
            cli.global.root,
            Some(PathBuf::from("/run/containerd/runc/k8s.io"))
        );
        assert_eq!(cli.global.log_format, LogFormat::Json);
        let Some(Command::Create(c)) = cli.command else {
            panic!("create expected")
        };
        assert_eq!(c.bundle, PathBuf::from("/b"));
        assert_eq!(c.pid_file, Some(PathBuf::from("/b/init.pid")));
        assert_eq!(c.container_id, "web");
    }

    #[test]
    fn global_flags_after_the_command_are_accepted() {
        let cli = parse(&["state", "web", "--root", "/tmp/r"]);
        assert_eq!(cli.global.root, Some(PathBuf::from("/tmp/r")));
    }

    #[test]
    fn containerd_exec_and_kill_lines() {
        let cli = parse(&[
            "exec",
            "--process",
            "/tmp/p.json",
            "--detach",
            "--pid-file",
            "/tmp/p.pid",
            "web",
        ]);
        let Some(Command::Exec(e)) = cli.command else {
            panic!("exec expected")
        };
        assert!(e.detach);
        assert_eq!(e.process, Some(PathBuf::from("/tmp/p.json")));
        let cli = parse(&["kill", "--all", "web", "9"]);
        let Some(Command::Kill(k)) = cli.command else {
            panic!("kill expected")
        };
        assert!(k.all);
        assert_eq!(k.signal, "9");
        let cli = parse(&["kill", "web"]);
        let Some(Command::Kill(k)) = cli.command else {
            panic!("kill expected")
        };
        assert_eq!(k.signal, "SIGTERM", "runc's default signal");
    }

    #[test]
    fn exec_with_command_line() {
        let cli = parse(&[
            "exec",
            "-t",
            "--env",
            "A=b",
            "--user",
            "1000:1000",
            "web",
            "sh",
            "-c",
            "id",
        ]);
        let Some(Command::Exec(e)) = cli.command else {
            panic!("exec expected")
        };
        assert!(e.tty);
        assert_eq!(e.env, vec![("A".to_owned(), "b".to_owned())]);
        assert_eq!(e.user, Some((1000, Some(1000))));
        assert_eq!(e.command, vec!["sh", "-c", "id"]);
    }

    #[test]
    fn bad_log_format_is_refused() {
        assert!(Cli::try_parse_from(["vigil", "--log-format", "xml", "list"]).is_err());
    }
}
