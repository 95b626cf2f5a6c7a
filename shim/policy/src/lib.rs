//! vigil-policy: policy model, YAML parsing with locations, selection and compilation. Pure: no nix, libcontainer or aya.
