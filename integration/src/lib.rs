//! End-to-end test support: offline images, bundles, and engine guards.
