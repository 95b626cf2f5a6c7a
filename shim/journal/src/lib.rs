//! vigil-journal: the tamper-evident audit journal. Pure: no nix, libcontainer or aya.
