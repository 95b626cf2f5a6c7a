//! `spec`: a default `config.json`, as `runc spec` writes it.

use libcontainer::oci_spec::runtime::Spec;

use crate::RuntimeError;

/// runc's default spec (`sh` in a read-only rootfs with the default capabilities); with
/// `rootless`, a user namespace mapping the caller's uid and gid to root.
pub fn default_spec(rootless: bool) -> Result<Spec, RuntimeError> {
    let mut spec = if rootless {
        Spec::rootless(
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    } else {
        Spec::default()
    };
    if let Some(root) = spec.root().clone() {
        let mut root = root;
        root.set_readonly(Some(true));
        spec.set_root(Some(root));
    }
    Ok(spec)
}
