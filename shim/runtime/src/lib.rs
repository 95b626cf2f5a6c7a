//! vigil-runtime: libcontainer glue and the runc-compatible lifecycle.
