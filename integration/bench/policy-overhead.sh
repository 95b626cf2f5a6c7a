#!/usr/bin/env bash
# What vigil's policy layers cost (issue 3 benchmarks), interleaved, on an offline busybox bundle.
#
#   integration/bench/policy-overhead.sh /path/to/vigil [RUNS] [ITERATIONS] [REPEATS]
#       (root; RUNS defaults to 21, minimum 20; ITERATIONS per syscall loop defaults to 1000000;
#       REPEATS timed loops per container, the fastest reported, defaults to 3)
#
# (a) launch: `RT --root R run --bundle B ID` of busybox `true` (create+start+wait+delete),
#     vigil under the built-in default policy vs Debian's runc (and vigil with an empty policy);
# (b) syscalls inside the container: a static C program (syscall-loop.c next to this script,
#     gcc -static -O2) runs an open+close loop and a raw getppid loop and prints ns/op, under
#     vigil's default policy vs vigil with a policy that has no rules ("none": no seccomp filter,
#     no Landlock, no OCI edits) vs runc, and, as a reference for the filter's cost, runc with
#     the default policy exported as an OCI profile (`vigil policy compile default --format
#     oci-seccomp`, built by runc's libseccomp).
# Each iteration runs every variant once, rotating which goes first; the tables show medians
# over the RUNS iterations.
# Needs: busybox-static, runc, gcc (static libc: libc6-dev), jq. Everything lives under one temp
# dir; containers are deleted and the temp dir removed on exit.
set -euo pipefail

VIGIL=${1:?usage: $0 /path/to/vigil [RUNS] [ITERATIONS]}
RUNS=${2:-21}
ITER=${3:-1000000}
REPS=${4:-3}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
BUSYBOX=${BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$RUNS" -ge 20 ] || { echo "RUNS must be >= 20" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
VIGIL=$(readlink -f "$VIGIL"); RUNC=$(readlink -f "$RUNC")
for t in "$VIGIL" "$RUNC" "$BUSYBOX"; do [ -x "$t" ] || { echo "not executable: $t" >&2; exit 2; }; done
for t in gcc jq; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 2; }; done

T=$(mktemp -d /tmp/vit-polbench-XXXXXX)
chmod 755 "$T"
LIVE=
cleanup() {
  set +e
  for c in $LIVE; do
    label=${c%%:*}; id=${c#*:}
    case $label in
      runc*) "$RUNC" --root "$T/state-$label" delete --force "$id" >/dev/null 2>&1 ;;
      *) VIGIL_CONFIG=$T/$label/config.yaml "$VIGIL" --root "$T/state-$label" delete --force "$id" >/dev/null 2>&1 ;;
    esac
    for d in /sys/fs/cgroup/*/"$id" /sys/fs/cgroup/"$id"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  done
  grep -F " $T" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$T"
}
trap cleanup EXIT INT TERM

# --- bundle: busybox rootfs plus the static syscall loop ---------------------------------------
R=$T/bundle/rootfs
mkdir -p $R/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root}
cp "$BUSYBOX" $R/bin/busybox
"$BUSYBOX" --list-full | while read -r a; do [ -e "$R/$a" ] || ln -s /bin/busybox "$R/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > $R/etc/passwd; echo 'root:x:0:' > $R/etc/group
gcc -static -O2 -o $R/bin/syscall-loop "$HERE/syscall-loop.c"
B=$T/bundle
(cd $B && "$RUNC" spec && jq '.process.terminal=false | .process.args=["true"]' config.json > c.json && mv c.json config.json)
jq --arg n "$ITER" --arg r "$REPS" '.process.args=["/bin/syscall-loop", $n, $r]' $B/config.json > $B/loop.json
# runc with vigil's default policy as an OCI seccomp profile (runc 1.1 knows no seccomp flags)
"$VIGIL" policy compile default --format oci-seccomp | jq 'del(.flags)' > $T/default-seccomp.json
for f in config.json loop.json; do
  jq --slurpfile s $T/default-seccomp.json '.linux.seccomp=$s[0]' $B/$f > $B/$f.runcsec
done

# --- two host configurations: the built-in default policy, and a policy with no rules ----------
for label in default none; do
  d=$T/$label
  mkdir -p $d/policies $d/journal $d/state
  chmod 755 $d $d/policies; chmod 700 $d/journal $d/state
  cat > $d/config.yaml <<YAML
policyDir: $d/policies
journalDir: $d/journal
stateDir: $d/state
defaultPolicy: $label
selectable: [$label]
monitor: {socket: $d/monitor.sock, autoStart: false}
YAML
  chmod 644 $d/config.yaml
done
printf 'apiVersion: vigil.dev/v1\nkind: Policy\nmetadata: {name: none}\nspec: {}\n' > $T/none/policies/none.yaml
chmod 644 $T/none/policies/none.yaml

# --- measurements -------------------------------------------------------------------------------
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1000000 }'; }
declare -A S
# rt LABEL ARGS...: the runtime of variant LABEL (vigil with that config, or runc)
rt() {
  local label=$1; shift
  case $label in
    runc*) "$RUNC" --root "$T/state-$label" "$@" ;;
    *) VIGIL_CONFIG=$T/$label/config.yaml "$VIGIL" --root "$T/state-$label" "$@" ;;
  esac
}
# launch LABEL N: one timed `run` of busybox true
launch() {
  local label=$1 id=pl$$x$2$1 t0 t1
  LIVE="$LIVE $label:$id"
  cp $B/config.json.true$(suffix "$label") $B/config.json
  t0=$(now); rt "$label" run --bundle $B $id >/dev/null </dev/null; t1=$(now)
  S[launch,$label]+="$(ms $t0 $t1) "
}
# loop LABEL N: the syscall loops inside a container
loop() {
  local label=$1 id=ps$$x$2$1 out
  LIVE="$LIVE $label:$id"
  cp $B/loop.json$(suffix "$label") $B/config.json
  out=$(rt "$label" run --bundle $B $id </dev/null)
  S[open,$label]+="$(echo "$out" | sed -n 's/^open_close_ns=//p') "
  S[getppid,$label]+="$(echo "$out" | sed -n 's/^getppid_ns=//p') "
}
suffix() { [ "$1" = runcsec ] && echo .runcsec || true; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cp $B/config.json $B/config.json.true
cp $B/config.json.runcsec $B/config.json.true.runcsec

LABELS=(default none runc runcsec)
# warm-up, not counted
for l in "${LABELS[@]}"; do launch $l 0; loop $l 0; done
S=()
for i in $(seq 1 "$RUNS"); do
  for j in 0 1 2 3; do
    l=${LABELS[$(( (i + j) % 4 ))]}
    launch $l $i
    loop $l $i
  done
  printf '.' >&2
done
echo >&2
cp $B/config.json.true $B/config.json

m() { echo "${S[$1,$2]}" | median; }
echo
echo "## vigil policy overhead: medians of $RUNS interleaved runs ($(nproc) cores, $(uname -r))"
echo
echo "### (a) launch of busybox \`true\` (\`run --bundle\`, create+start+wait+delete)"
echo
echo "| runtime | median (ms) | / runc |"
echo "|---|---:|---:|"
for l in default none runc runcsec; do
  case $l in default) name="vigil, default policy";; none) name="vigil, empty policy";;
    runc) name="runc $("$RUNC" --version | head -1 | awk '{print $3}')";;
    runcsec) name="runc + default policy as OCI seccomp";; esac
  echo "| $name | $(m launch $l) | $(ratio "$(m launch $l)" "$(m launch runc)") |"
done
echo
echo "### (b) syscalls inside the container (ns/op, fastest of $REPS loops of $ITER per container)"
echo
echo "| loop | vigil default policy | vigil empty policy | runc | runc + default as OCI seccomp | default/empty | default/runc | runc+seccomp/runc |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for k in open getppid; do
  case $k in open) name="open+close";; getppid) name="getppid";; esac
  d=$(m $k default); n=$(m $k none); r=$(m $k runc); rs=$(m $k runcsec)
  echo "| $name | $d | $n | $r | $rs | $(ratio "$d" "$n") | $(ratio "$d" "$r") | $(ratio "$rs" "$r") |"
done
echo
echo "target: default/empty <= 1.10 for both loops"
echo "vigil: $VIGIL ($("$VIGIL" --version 2>/dev/null | head -1))"
