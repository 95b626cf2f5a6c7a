//! `vigil policy ...`: the subcommands, ready for the binary to mount with one line:
//! `Policy { #[command(subcommand)] cmd: vigil_policy::cli::PolicyCommand }` and
//! `vigil_policy::cli::run(&cmd, &config, &mut stdout, &mut stderr)`.

use crate::config::HostConfig;
use crate::diag::Diagnostic;
use crate::resolve::{LoadError, Loader};
use crate::{CompileError, ImportError, compile, import_oci_seccomp};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Everything the policy becomes (OCI edits, seccomp, Landlock, monitor rules).
    Json,
    /// An OCI / Docker seccomp profile (`docker run --security-opt seccomp=FILE`).
    OciSeccomp,
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum PolicyCommand {
    /// Check policy files (and what they extend); print every problem as file:line:column.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print what a policy (a name in the policy directory, or a file) compiles to.
    Compile {
        name_or_file: String,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Turn an OCI/Docker seccomp profile (JSON) into a policy (YAML on stdout).
    Import {
        file: PathBuf,
        /// Name of the new policy (default: the file name without extension).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("failed to write output")]
    Write(#[from] std::io::Error),
    #[error("failed to read {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Load(LoadError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("failed to print JSON")]
    Json(#[from] serde_json::Error),
}

/// Run one `vigil policy` subcommand. Returns the exit code: 0, or 1 when the policy has
/// errors (printed on `err` as `file:line:column: error: message`). Other failures (a file
/// that cannot be read, a policy that does not exist) are `Err`.
pub fn run(
    cmd: &PolicyCommand,
    config: &HostConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CliError> {
    // Offline inspection: files need not be root-owned here (loading for a container does
    // check it, through HostConfig::loader()).
    let loader = Loader::new(Some(&config.policy_dir), None);
    match cmd {
        PolicyCommand::Check { files } => {
            let diags = loader.check(files);
            print_diags(&diags, err)?;
            let errors = diags.iter().filter(|d| d.is_error()).count();
            if errors > 0 {
                writeln!(err, "{errors} error(s) in {} file(s)", files.len())?;
                return Ok(1);
            }
            writeln!(out, "{} file(s) ok", files.len())?;
            Ok(0)
        }
        PolicyCommand::Compile {
            name_or_file,
            format,
        } => {
            let policy = match loader.load(name_or_file) {
                Ok(p) => p,
                Err(LoadError::Invalid(d)) => {
                    print_diags(&d.0, err)?;
                    return Ok(1);
                }
                Err(e) => return Err(CliError::Load(e)),
            };
            let compiled = compile(&policy)?;
            let json = match format {
                Format::Json => serde_json::to_string_pretty(&compiled)?,
                Format::OciSeccomp => {
                    serde_json::to_string_pretty(&compiled.seccomp.to_oci_seccomp())?
                }
            };
            writeln!(out, "{json}")?;
            Ok(0)
        }
        PolicyCommand::Import { file, name } => {
            let text = std::fs::read_to_string(file).map_err(|source| CliError::Read {
                path: file.clone(),
                source,
            })?;
            let name = name.clone().unwrap_or_else(|| {
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                let clean: String = stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                if clean.is_empty() {
                    "imported".into()
                } else {
                    clean
                }
            });
            let imported = import_oci_seccomp(file, &text, &name)?;
            for n in &imported.notes {
                writeln!(err, "{}: note: {n}", file.display())?;
            }
            write!(out, "{}", crate::oci_seccomp::to_yaml(&imported.policy))?;
            Ok(0)
        }
    }
}

fn print_diags(diags: &[Diagnostic], err: &mut dyn Write) -> std::io::Result<()> {
    for d in diags {
        writeln!(err, "{d}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: PolicyCommand,
    }

    fn run_args(args: &[&str], config: &HostConfig) -> (i32, String, String) {
        let cli = Cli::try_parse_from(std::iter::once("vigil-policy").chain(args.iter().copied()))
            .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&cli.cmd, config, &mut out, &mut err).unwrap();
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn check_prints_all_errors_and_exits_1() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {name: bad}\nspec:\n  syscalls: {deny: [mkdri]}\n  resources: {memory: lots}\n").unwrap();
        let good = dir.path().join("good.yaml");
        std::fs::write(
            &good,
            "apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {name: good}\nspec: {mode: audit}\n",
        )
        .unwrap();
        let cfg = HostConfig {
            policy_dir: dir.path().to_path_buf(),
            ..HostConfig::default()
        };
        let (code, _, err) = run_args(
            &["check", bad.to_str().unwrap(), good.to_str().unwrap()],
            &cfg,
        );
        assert_eq!(code, 1);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "{}:5:21: error: unknown syscall \"mkdri\" in syscalls.deny; did you mean \"mkdir\"? (not a syscall on x86_64 or aarch64)",
                bad.display()
            )
        );
        assert!(
            lines[1].starts_with(&format!("{}:6:23: error: bad size \"lots\"", bad.display())),
            "{err}"
        );
        assert_eq!(lines[2], "2 error(s) in 2 file(s)");
        let (code, out, _) = run_args(&["check", good.to_str().unwrap()], &cfg);
        assert_eq!((code, out.as_str()), (0, "1 file(s) ok\n"));
    }

    #[test]
    fn compile_json_and_oci_seccomp() {
        let cfg = HostConfig {
            policy_dir: "/nonexistent".into(),
            ..HostConfig::default()
        };
        let (code, out, _) = run_args(&["compile", "default"], &cfg);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["name"], "default");
        assert_eq!(v["digest"].as_str().unwrap().len(), 64);
        let (code, out, _) = run_args(&["compile", "default", "--format", "oci-seccomp"], &cfg);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ALLOW");
        assert!(
            v["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["names"] == serde_json::json!(["keyctl"]))
        );
        // and importing that export gives back a policy that checks clean
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("Docker Default.json");
        std::fs::write(&f, &out).unwrap();
        let (code, yaml, notes) = run_args(&["import", f.to_str().unwrap()], &cfg);
        assert_eq!(code, 0, "{notes}");
        assert!(yaml.contains("name: docker-default"), "{yaml}");
        let y = dir.path().join("docker-default.yaml");
        std::fs::write(&y, &yaml).unwrap();
        let (code, _, err) = run_args(&["check", y.to_str().unwrap()], &cfg);
        assert_eq!(code, 0, "{err}");
    }

    #[test]
    fn compile_of_a_bad_policy_exits_1_and_missing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            "apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {name: bad}\nspec: {mode: strict}\n",
        )
        .unwrap();
        let cfg = HostConfig {
            policy_dir: dir.path().to_path_buf(),
            ..HostConfig::default()
        };
        let (code, _, err) = run_args(&["compile", bad.to_str().unwrap()], &cfg);
        assert_eq!(code, 1);
        assert!(
            err.contains(":4:14: error: unknown mode \"strict\""),
            "{err}"
        );
        let cli = Cli::try_parse_from(["x", "compile", "nosuch"]).unwrap();
        let e = run(&cli.cmd, &cfg, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("policy \"nosuch\" not found"), "{e}");
    }
}
