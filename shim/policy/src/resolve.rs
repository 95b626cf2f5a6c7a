//! Loading policies by name or file and resolving their `extends` chain.

use crate::diag::{Diagnostic, Diagnostics, Location};
use crate::merge::merge;
use crate::model::Policy;
use crate::parse::parse_policy;
use crate::trust::{Trust, TrustError};
use std::path::{Path, PathBuf};

/// Policies shipped inside the binary, used when the policy directory has no file of that name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../../profiles/default.yaml")),
    ("strict", include_str!("../../../profiles/strict.yaml")),
];

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("policy {name:?} not found (looked for {looked:?} and the built-in policies)")]
    NotFound { name: String, looked: Vec<PathBuf> },
    #[error("failed to read policy {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Untrusted(#[from] TrustError),
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Finds and resolves policies. `trust` is checked on every file read from disk (`None` for
/// `vigil policy check` of a user's own files).
#[derive(Debug, Clone)]
pub struct Loader {
    pub policy_dir: Option<PathBuf>,
    pub trust: Option<Trust>,
}

/// Parsed but unresolved policy with its diagnostics.
struct Parsed {
    policy: Option<Policy>,
    diags: Vec<Diagnostic>,
}

impl Loader {
    pub fn new(policy_dir: Option<&Path>, trust: Option<Trust>) -> Self {
        Loader {
            policy_dir: policy_dir.map(Path::to_path_buf),
            trust,
        }
    }

    /// Load `name_or_file` (a name is looked up in the policy directory, then the built-ins;
    /// anything with a `/` or ending in `.yaml`/`.yml` is a file) and resolve its `extends`
    /// chain. Warnings are dropped; any error fails the load with all diagnostics.
    pub fn load(&self, name_or_file: &str) -> Result<Policy, LoadError> {
        let (policy, diags) = self.load_with_diagnostics(name_or_file)?;
        if diags.iter().any(Diagnostic::is_error) {
            return Err(LoadError::Invalid(Diagnostics(diags)));
        }
        policy.ok_or(LoadError::Invalid(Diagnostics(diags)))
    }

    /// Like [`Loader::load`], but returns warnings and errors instead of failing on errors.
    pub fn load_with_diagnostics(
        &self,
        name_or_file: &str,
    ) -> Result<(Option<Policy>, Vec<Diagnostic>), LoadError> {
        let parsed = if is_file_ref(name_or_file) {
            self.read_file(Path::new(name_or_file))?
        } else {
            self.read_name(name_or_file)?
        };
        let mut chain = Vec::new();
        Ok(self.resolve(parsed, &mut chain))
    }

    /// Check files: every problem of each file and of its `extends` chain.
    pub fn check(&self, files: &[PathBuf]) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for f in files {
            match self.read_file(f) {
                Ok(parsed) => out.extend(self.resolve(parsed, &mut Vec::new()).1),
                Err(e) => out.push(Diagnostic::error(Location::new(f, 1, 1), e.to_string())),
            }
        }
        out
    }

    fn read_file(&self, path: &Path) -> Result<Parsed, LoadError> {
        if let Some(t) = &self.trust {
            t.check(path)?;
        }
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let (policy, diags) = parse_policy(path, &text);
        Ok(Parsed { policy, diags })
    }

    fn read_name(&self, name: &str) -> Result<Parsed, LoadError> {
        let mut looked = Vec::new();
        if let Some(dir) = &self.policy_dir {
            for ext in ["yaml", "yml"] {
                let p = dir.join(format!("{name}.{ext}"));
                if p.exists() {
                    let mut parsed = self.read_file(&p)?;
                    if let Some(pol) = &parsed.policy
                        && pol.name != name
                        && !pol.name.is_empty()
                    {
                        parsed.diags.push(Diagnostic::error(
                            pol.name_at.clone(),
                            format!("policy file {p:?} names itself {:?}: metadata.name must match the file name {name:?}", pol.name),
                        ));
                    }
                    return Ok(parsed);
                }
                looked.push(p);
            }
        }
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            let (policy, diags) = parse_policy(Path::new(&format!("<builtin>/{name}.yaml")), text);
            return Ok(Parsed { policy, diags });
        }
        Err(LoadError::NotFound {
            name: name.to_string(),
            looked,
        })
    }

    fn resolve(
        &self,
        parsed: Parsed,
        chain: &mut Vec<String>,
    ) -> (Option<Policy>, Vec<Diagnostic>) {
        let Parsed { policy, mut diags } = parsed;
        let Some(policy) = policy else {
            return (None, diags);
        };
        let Some(ext) = policy.spec.extends.clone() else {
            return (Some(policy), diags);
        };
        chain.push(policy.name.clone());
        if chain.contains(&ext.value) {
            let mut cycle = chain.clone();
            cycle.push(ext.value.clone());
            diags.push(Diagnostic::error(
                ext.at.clone(),
                format!("cycle in extends: {}", cycle.join(" -> ")),
            ));
            return (Some(policy), diags);
        }
        let parent = match self.read_name(&ext.value) {
            Ok(p) => p,
            Err(e) => {
                diags.push(Diagnostic::error(
                    ext.at.clone(),
                    format!("cannot extend {:?}: {e}", ext.value),
                ));
                return (Some(policy), diags);
            }
        };
        let (parent, pdiags) = self.resolve(parent, chain);
        if pdiags.iter().any(Diagnostic::is_error) {
            diags.push(Diagnostic::error(
                ext.at.clone(),
                format!("parent policy {:?} has errors (listed below)", ext.value),
            ));
        }
        diags.extend(pdiags);
        let Some(parent) = parent else {
            return (Some(policy), diags);
        };
        let (merged, mdiags) = merge(&parent, &policy);
        diags.extend(mdiags);
        let mut r = crate::reader::Reader::default();
        crate::validate::validate(&merged, &mut r);
        // Contradictions inside the child alone were already reported when it was parsed.
        for d in r.diags {
            if !diags.contains(&d) {
                diags.push(d);
            }
        }
        (Some(merged), diags)
    }
}

fn is_file_ref(s: &str) -> bool {
    s.contains('/') || s.ends_with(".yaml") || s.ends_with(".yml")
}
