#!/bin/sh
# Runs inside the test VM (busybox sh, pure cgroup v2 on /sys/fs/cgroup), from the 9p share
# mounted on /mnt that run-cgroup-v2.sh prepared: /mnt/vigil (the runtime under test),
# /mnt/rootfs (a busybox rootfs) and /mnt/bundle-*/config.json (bundles whose root.path is
# /tmp/rootfs). Prints one `VIGIL-V2-CHECK ok|FAIL <name> <detail>` line per check and ends with
# `VIGIL-V2-OK` or `VIGIL-V2-FAIL <n> checks failed`; the host script greps for these lines.

V=/bin/vigil
ROOT=/run/vigil
CGROOT=/sys/fs/cgroup
fails=0

ok() { echo "VIGIL-V2-CHECK ok $*"; }
bad() {
    echo "VIGIL-V2-CHECK FAIL $*"
    fails=$((fails + 1))
}
# expect NAME WANT GOT: one equality check.
expect() {
    if [ "$2" = "$3" ]; then ok "$1 = $3"; else bad "$1: want '$2', got '$3'"; fi
}
vigil() { timeout 120 "$V" --root "$ROOT" --log /tmp/vigil.log --log-format json "$@"; }
status_of() { vigil state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }
# wait_for SECONDS COMMAND...: polls every 0.2 s until COMMAND succeeds.
wait_for() {
    n=$(($1 * 5))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        usleep 200000
        n=$((n - 1))
    done
    return 1
}
is_status() { [ "$(status_of "$1")" = "$2" ]; }
no_dir() { [ ! -e "$1" ]; }
finish() {
    if [ -s /tmp/vigil.log ]; then
        echo "--- vigil log (json) ---"
        cat /tmp/vigil.log
    fi
    if [ "$fails" -eq 0 ]; then echo "VIGIL-V2-OK"; else echo "VIGIL-V2-FAIL $fails checks failed"; fi
    exit "$fails"
}

cp /mnt/vigil "$V" && chmod 755 "$V" || bad "copy vigil from the share"
cp -a /mnt/rootfs /tmp/rootfs || bad "copy the busybox rootfs from the share"
for b in /mnt/bundle-*; do cp -a "$b" /tmp/ || bad "copy $b"; done
echo "VIGIL-V2-INFO $($V --version 2>&1 | sed -n 1p)"

# --- 0. the kernel really is pure cgroup v2 ---------------------------------------------------
expect "filesystem mounted on $CGROOT" cgroup2 "$(awk -v d=$CGROOT '$2 == d { print $3 }' /proc/mounts)"
expect "cgroup v1 mounts" 0 "$(grep -c ' cgroup ' /proc/mounts)"
expect "v1 hierarchies in /proc/cgroups" 0 "$(awk 'NR > 1 && $2 != 0' /proc/cgroups | wc -l)"
if grep -qw pids $CGROOT/cgroup.controllers; then ok "pids controller available"; else bad "no pids controller in $CGROOT/cgroup.controllers"; fi
echo "VIGIL-V2-INFO root subtree_control before: '$(cat $CGROOT/cgroup.subtree_control)'"

# --- 1. create: the container's init sits in its cgroup with pids.max from config.json --------
CG=$CGROOT/vigil-test/c1
limit=$(sed -n 's/.*"limit": *\([0-9]*\).*/\1/p' /tmp/bundle-c1/config.json)
[ -n "$limit" ] || bad "no linux.resources.pids.limit in bundle-c1/config.json"
if vigil create --bundle /tmp/bundle-c1 --pid-file /tmp/c1.pid c1 >/tmp/c1.out 2>&1; then
    ok "create c1"
else
    bad "create c1 (exit $?): $(tail -c 600 /tmp/c1.out)"
    finish
fi
expect "state after create" created "$(status_of c1)"
pid=$(cat /tmp/c1.pid 2>/dev/null)
echo "VIGIL-V2-INFO subtree_control after create: / '$(cat $CGROOT/cgroup.subtree_control)', /vigil-test '$(cat $CGROOT/vigil-test/cgroup.subtree_control 2>&1)'"
echo "VIGIL-V2-INFO c1 init pid $pid, cgroup dir $CG"
expect "pids.max (config.json linux.resources.pids.limit)" "$limit" "$(cat $CG/pids.max 2>&1)"
if grep -qx "$pid" $CG/cgroup.procs 2>/dev/null; then ok "init pid $pid in $CG/cgroup.procs"; else bad "init pid $pid not in $CG/cgroup.procs: $(cat $CG/cgroup.procs 2>&1)"; fi
expect "/proc/<init>/cgroup" "0::/vigil-test/c1" "$(cat /proc/"$pid"/cgroup 2>&1)"

# --- 2. start: the process runs and sees its own cgroup namespace -----------------------------
if vigil start c1 >>/tmp/c1.out 2>&1; then ok "start c1"; else bad "start c1: $(tail -c 600 /tmp/c1.out)"; fi
if wait_for 30 grep -q VIGIL-CONTAINER-STARTED /tmp/c1.out; then ok "container process ran"; else bad "no output from the container: $(tail -c 600 /tmp/c1.out)"; fi
expect "state after start" running "$(status_of c1)"
expect "/proc/self/cgroup inside the container (cgroup namespace)" "0::/" "$(sed -n 's/^CGROUP-IN-CONTAINER //p' /tmp/c1.out)"

# --- 3. update and enforcement ----------------------------------------------------------------
if vigil update --pids-limit 20 c1 >/tmp/update.out 2>&1; then ok "update --pids-limit 20"; else bad "update --pids-limit 20: $(cat /tmp/update.out)"; fi
expect "pids.max after update" 20 "$(cat $CG/pids.max 2>&1)"
# An exec'd shell forks 40 sleeps; the pids controller must refuse the fork that would pass the
# limit (busybox sh then exits, so one pid below the limit stays in use: init, 18 sleeps).
vigil exec c1 sh -c 'i=0; while [ $i -lt 40 ]; do sleep 600 & i=$((i+1)); done' >/tmp/exec.out 2>&1
current=$(cat $CG/pids.current 2>/dev/null)
if [ "${current:-0}" -ge 10 ] && [ "$current" -le 20 ]; then ok "pids.current after a fork flood = $current (<= 20)"; else bad "pids.current after a fork flood: want 10..20, got '$current'"; fi
expect "processes in cgroup.procs = pids.current" "$current" "$(wc -l <$CG/cgroup.procs)"
refused=$(sed -n 's/^max //p' $CG/pids.events 2>/dev/null)
if [ "${refused:-0}" -gt 0 ]; then ok "pids.events max = $refused (forks refused by the limit)"; else bad "pids.events shows no refused fork: $(cat $CG/pids.events 2>&1)"; fi

# --- 4. kill and delete: nothing left ---------------------------------------------------------
if vigil kill c1 KILL >/tmp/kill.out 2>&1; then ok "kill c1 KILL"; else bad "kill c1 KILL: $(cat /tmp/kill.out)"; fi
if wait_for 30 is_status c1 stopped; then ok "state stopped after kill"; else bad "state after kill: $(status_of c1)"; fi
if vigil delete c1 >/tmp/delete.out 2>&1; then ok "delete c1"; else bad "delete c1: $(cat /tmp/delete.out)"; fi
if wait_for 5 no_dir $CG; then ok "cgroup $CG removed"; else bad "cgroup $CG left: procs '$(cat $CG/cgroup.procs 2>&1)'"; fi
if [ ! -e $ROOT/c1 ]; then ok "state dir $ROOT/c1 removed"; else bad "state dir $ROOT/c1 left"; fi
left=$(ps -o pid,args | grep -c '[s]leep 600')
expect "container processes left" 0 "$left"

# --- 5. delete --force of a running container -------------------------------------------------
CG3=$CGROOT/vigil-test/c3
if vigil create --bundle /tmp/bundle-c3 c3 >/tmp/c3.out 2>&1 && vigil start c3 >>/tmp/c3.out 2>&1; then
    ok "create+start c3"
    expect "c3 pids.max" "$limit" "$(cat $CG3/pids.max 2>&1)"
    if vigil delete --force c3 >>/tmp/c3.out 2>&1; then ok "delete --force c3 (running)"; else bad "delete --force c3: $(tail -c 600 /tmp/c3.out)"; fi
    if wait_for 5 no_dir $CG3; then ok "cgroup $CG3 removed"; else bad "cgroup $CG3 left"; fi
    if [ ! -e $ROOT/c3 ]; then ok "state dir $ROOT/c3 removed"; else bad "state dir $ROOT/c3 left"; fi
    expect "c3 processes left" 0 "$(ps -o pid,args | grep -c '[s]leep 600')"
else
    bad "create+start c3: $(tail -c 600 /tmp/c3.out)"
fi
# runc leaves the parent of a nested cgroupsPath in place; it must at least be empty now.
if rmdir $CGROOT/vigil-test 2>/dev/null; then ok "parent $CGROOT/vigil-test empty (removed by the test)"; else bad "parent $CGROOT/vigil-test not removable: $(ls $CGROOT/vigil-test 2>&1 | tr '\n' ' ')"; fi

# --- 6. run without cgroupsPath: runc's default /<id>, exit code passed through -----------------
vigil run --bundle /tmp/bundle-c2 c2 >/tmp/c2.out 2>&1
expect "run c2 exit code (sh -c 'exit 3')" 3 "$?"
if grep -q VIGIL-C2-RAN /tmp/c2.out; then ok "c2 ran"; else bad "c2 did not run: $(tail -c 600 /tmp/c2.out)"; fi
if no_dir $CGROOT/c2; then ok "cgroup $CGROOT/c2 removed after run"; else bad "cgroup $CGROOT/c2 left after run"; fi
if [ ! -e $ROOT/c2 ]; then ok "state dir $ROOT/c2 removed after run"; else bad "state dir $ROOT/c2 left after run"; fi
echo "VIGIL-V2-INFO cgroups left under $CGROOT: $(find $CGROOT -mindepth 1 -type d | tr '\n' ' ')"
expect "cgroup directories left" 0 "$(find $CGROOT -mindepth 1 -type d | wc -l)"
expect "vigil list entries" 0 "$(vigil list --format json 2>/dev/null | grep -o '"id"' | wc -l)"

finish
