#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, and end-to-end tests against the real kernel
# and real engines (containerd, CRI, Docker, Podman) with all state under temp dirs.
# Set VIGIL_REQUIRE_PRIVILEGED=1 to make a missing kernel feature or engine a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo test --workspace --no-fail-fast -- --test-threads="${VIGIL_TEST_THREADS:-2}"
