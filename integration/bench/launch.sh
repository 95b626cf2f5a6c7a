#!/usr/bin/env bash
# Launch latency of vigil vs Debian's runc, interleaved, on an offline busybox image.
#
#   integration/bench/launch.sh /path/to/vigil [RUNS]     (root; RUNS defaults to 25, minimum 20)
#
# Measures, per iteration and alternating which runtime goes first:
#   direct run   `RT --root R run --bundle B ID` of busybox `true` (create+start+wait+delete)
#   direct c/s/d `RT create`, `RT start`, `RT delete --force` (three invocations)
#   containerd   `ctr run --rm --runtime io.containerd.runc.v2 --runc-binary RT IMAGE ID true`
# and prints a markdown table of medians and the ratio vigil/runc.
# Needs: busybox-static, runc, containerd, umoci, skopeo, jq. Everything lives under one temp
# dir; containerd is stopped by pid and mounts/cgroups are removed on exit.
set -euo pipefail

VIGIL=${1:?usage: $0 /path/to/vigil [RUNS]}
RUNS=${2:-25}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
[ "$RUNS" -ge 20 ] || { echo "RUNS must be >= 20" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
VIGIL=$(readlink -f "$VIGIL"); RUNC=$(readlink -f "$RUNC")
for t in "$VIGIL" "$RUNC" "$BUSYBOX"; do [ -x "$t" ] || { echo "not executable: $t" >&2; exit 2; }; done
for t in containerd ctr umoci skopeo jq; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done

T=$(mktemp -d /tmp/vit-bench-XXXXXX)
NS=vitbench$$
CTRD_PID=
cleanup() {
  set +e
  if [ -n "$CTRD_PID" ]; then
    for id in $(ctr --address "$T/c.sock" -n $NS tasks ls -q 2>/dev/null); do
      ctr --address "$T/c.sock" -n $NS tasks rm -f "$id" >/dev/null 2>&1
    done
    kill -TERM "$CTRD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CTRD_PID" 2>/dev/null; wait "$CTRD_PID" 2>/dev/null
  fi
  # shims of our containerd name its socket on their command line
  for p in $(grep -l -s -F "$T/c.sock" /proc/[0-9]*/cmdline | cut -d/ -f3); do kill -KILL "$p" 2>/dev/null; done
  grep -F " $T" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  for d in /sys/fs/cgroup/*/$NS /sys/fs/cgroup/$NS; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT INT TERM

# --- busybox rootfs, bundle and OCI image ---------------------------------------------------
R=$T/rootfs
mkdir -p $R/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root}
cp "$BUSYBOX" $R/bin/busybox
"$BUSYBOX" --list-full | while read -r a; do [ -e "$R/$a" ] || ln -s /bin/busybox "$R/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > $R/etc/passwd; echo 'root:x:0:' > $R/etc/group
B=$T/bundle; mkdir -p $B; cp -a $R $B/rootfs
(cd $B && "$RUNC" spec && jq '.process.terminal=false | .process.args=["true"]' config.json > c.json && mv c.json config.json)
umoci init --layout $T/oci >/dev/null
umoci new --image $T/oci:bb >/dev/null
umoci insert --image $T/oci:bb $R / >/dev/null
umoci config --image $T/oci:bb --config.cmd=sh --config.env=PATH=/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
IMAGE=localhost/vigil-bench/busybox:latest
skopeo --insecure-policy copy --quiet oci:$T/oci:bb oci-archive:$T/bb.tar:$IMAGE

# --- private containerd -----------------------------------------------------------------------
cat > $T/config.toml <<TOML
version = 2
root = "$T/croot"
state = "$T/cstate"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/c.sock"
[ttrpc]
  address = "$T/c.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"
TOML
containerd --config $T/config.toml --log-level warn >$T/containerd.log 2>&1 &
CTRD_PID=$!
for _ in $(seq 100); do ctr --address $T/c.sock version >/dev/null 2>&1 && break; sleep 0.1; done
CTR="ctr --address $T/c.sock -n $NS"
$CTR images import $T/bb.tar >/dev/null

# --- measurements -----------------------------------------------------------------------------
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000000 }'; }
declare -A SAMPLES
one() { # kind runtime-label runtime-binary iteration
  local kind=$1 label=$2 rt=$3 id=b$4$2 t0 t1
  case $kind in
    run) t0=$(now); "$rt" --root $T/state-$label run --bundle $B $id >/dev/null; t1=$(now) ;;
    csd) t0=$(now)
         "$rt" --root $T/state-$label create --bundle $B $id >/dev/null </dev/null
         "$rt" --root $T/state-$label start $id
         "$rt" --root $T/state-$label delete --force $id
         t1=$(now) ;;
    ctr) t0=$(now); $CTR run --rm --fifo-dir $T/fifo --runtime io.containerd.runc.v2 --runc-binary "$rt" \
           --runc-root $T/cstate-runc $IMAGE $id true >/dev/null; t1=$(now) ;;
  esac
  SAMPLES[$kind,$label]+="$(ms $t0 $t1) "
}
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# one warm-up each, not counted
for k in run csd ctr; do one $k vigil "$VIGIL" 0; one $k runc "$RUNC" 0; done
for k in run csd ctr; do SAMPLES[$k,vigil]=; SAMPLES[$k,runc]=; done
for i in $(seq 1 "$RUNS"); do
  for k in run csd ctr; do
    if (( i % 2 )); then one $k vigil "$VIGIL" $i; one $k runc "$RUNC" $i
    else one $k runc "$RUNC" $i; one $k vigil "$VIGIL" $i; fi
  done
done

echo
echo "Launch of busybox \`true\`, median of $RUNS interleaved runs each ($(nproc) cores, $(uname -r))"
echo
echo "| path | vigil (ms) | runc (ms) | vigil/runc |"
echo "|---|---:|---:|---:|"
for k in run csd ctr; do
  case $k in run) name="direct \`run\`";; csd) name="direct create+start+delete";; ctr) name="\`ctr run --rm\` (containerd 1.6)";; esac
  v=$(echo "${SAMPLES[$k,vigil]}" | median); r=$(echo "${SAMPLES[$k,runc]}" | median)
  echo "| $name | $v | $r | $(awk -v v="$v" -v r="$r" 'BEGIN { printf "%.2f", v / r }') |"
done
echo
echo "vigil: $VIGIL ($("$VIGIL" --version 2>/dev/null | head -1))"
echo "runc:  $RUNC ($("$RUNC" --version | head -1))"
