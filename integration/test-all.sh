#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, and end-to-end tests against the real kernel
# and real engines (containerd, CRI, Docker, Podman) with all state under temp dirs.
# Set VIGIL_REQUIRE_PRIVILEGED=1 to make a missing kernel feature or engine a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo test --workspace --no-fail-fast -- --test-threads="${VIGIL_TEST_THREADS:-2}"
# Pure cgroup v2 (production hosts) cannot be had on this hybrid host: boot Debian's 6.1 kernel
# in qemu and run the lifecycle there (integration/vm/README.md).
if [ "$(id -u)" = 0 ] && command -v qemu-system-x86_64 >/dev/null; then
    integration/vm/run-cgroup-v2.sh target/debug/vigil
elif [ "${VIGIL_REQUIRE_PRIVILEGED:-}" = 1 ]; then
    echo "FAIL: the cgroup v2 VM test needs root and qemu-system-x86" >&2
    exit 1
else
    echo "SKIP: the cgroup v2 VM test needs root and qemu-system-x86"
fi
