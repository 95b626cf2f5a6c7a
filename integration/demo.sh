#!/usr/bin/env bash
# vigil's main job on a fresh machine: build vigil, build a busybox container offline (Debian's
# busybox-static, no registry), run it under the embedded default policy, show an action the
# policy blocks, and the journal records of it all. Everything lives under one temp dir.
#
#   sudo ./integration/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (containers need it)" >&2; exit 2; }

missing=()
for cmd in busybox jq; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static jq libseccomp-dev pkg-config
fi

cargo build --release -p vigil
VIGIL=$PWD/target/release/vigil

T=$(mktemp -d /tmp/vigil-demo-XXXXXX)
cleanup() {
    "$VIGIL" --config "$T/config.yaml" delete --force demo >/dev/null 2>&1 || true
    "$VIGIL" --config "$T/config.yaml" delete --force demo-secret >/dev/null 2>&1 || true
    # the monitor daemon that the second container started on demand
    if [ -f "$T/mon/monitor.pid" ]; then kill "$(cat "$T/mon/monitor.pid")" 2>/dev/null || true; sleep 0.3; fi
    rm -rf "$T"
}
trap cleanup EXIT
chmod 0755 "$T"

# Host configuration: only the journal and state live under the temp dir; the policy is the
# embedded default (vigil policy compile default shows what it becomes).
mkdir -p "$T/policies"
chmod 0755 "$T/policies"
cat >"$T/config.yaml" <<CFG
journalDir: $T/journal
stateDir: $T/state
policyDir: $T/policies
selectable: [default, no-secrets]
monitor:
  socket: $T/mon/monitor.sock
CFG
# A second policy for the second act: the default plus a file no name may reach, enforced by
# the monitor (fanotify), which create starts on demand.
cat >"$T/policies/no-secrets.yaml" <<POL
apiVersion: vigil.dev/v1
kind: Policy
metadata: {name: no-secrets}
spec:
  extends: default
  filesystem:
    deny: [/etc/secret]
POL
chmod 0644 "$T/config.yaml" "$T/policies/no-secrets.yaml"

# A busybox bundle, offline.
mkdir -p "$T/bundle/rootfs/bin" "$T/bundle/rootfs/"{proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$T/bundle/rootfs/bin/busybox"
for app in sh echo id cat grep unshare true; do ln -s busybox "$T/bundle/rootfs/bin/$app"; done
(cd "$T/bundle" && "$VIGIL" spec)
jq '.process.terminal = false
    | .process.args = ["sh", "-c", "echo \"inside: $(id)\"; grep CapEff /proc/self/status; if unshare -U true; then echo \"not blocked\"; exit 1; else echo \"blocked: unshare(CLONE_NEWUSER) refused by the default policy\"; fi"]
    | .linux.cgroupsPath = "/vigil-demo/demo"' \
    "$T/bundle/config.json" >"$T/config.json" && mv "$T/config.json" "$T/bundle/config.json"

echo "== running busybox under the default policy"
"$VIGIL" --config "$T/config.yaml" run --bundle "$T/bundle" demo

echo
echo "== a container asking for policy no-secrets reads /etc/secret, inline-denied by the monitor"
mkdir -p "$T/bundle2"
cp -a "$T/bundle/rootfs" "$T/bundle2/rootfs"
echo "card numbers" >"$T/bundle2/rootfs/etc/secret"
jq '.process.args = ["sh", "-c", "cat /etc/secret || echo \"blocked: read of /etc/secret refused\""]
    | .annotations = {"vigil.dev/policy": "no-secrets"}
    | .linux.cgroupsPath = "/vigil-demo/demo-secret"' \
    "$T/bundle/config.json" >"$T/bundle2/config.json"
"$VIGIL" --config "$T/config.yaml" run --bundle "$T/bundle2" demo-secret

echo
echo "== the journal (vigil audit query)"
"$VIGIL" --config "$T/config.yaml" audit query
echo
echo "== the same records as JSON lines, as a SIEM pipeline reads them"
"$VIGIL" --config "$T/config.yaml" audit query --json
echo
echo "== is the chain intact? (vigil audit verify)"
"$VIGIL" --config "$T/config.yaml" audit verify
