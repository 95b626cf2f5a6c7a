//! probe: what this host's kernel supports, for `vigil doctor` and a policy's `require`.
