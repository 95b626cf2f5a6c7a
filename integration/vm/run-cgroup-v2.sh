#!/bin/bash
# Proves that vigil creates, starts, updates, runs and deletes busybox containers on a pure
# cgroup v2 kernel: boots Debian's 6.1 kernel under qemu (TCG) with a busybox initramfs, shares
# the runtime and a bundle over 9p, runs vm-test.sh inside and reads its verdict from the serial
# console. Usage: run-cgroup-v2.sh /path/to/vigil   (as root; prints PASS or FAIL, exit 0 or 1)
#
# Environment (all optional):
#   VIGIL_VM_KERNEL_PKG  Debian kernel package (default: what linux-image-amd64 depends on,
#                        a linux-image-6.1.0-NN-amd64)
#   VIGIL_VM_KERNEL_DEB  an already downloaded .deb of that package (skips apt-get download)
#   VIGIL_VM_TIMEOUT     seconds before the VM is killed (default 600)
#   VIGIL_VM_KEEP_LOG    copy the serial log to this file
# Everything lives under one temp dir, removed at exit; nothing is installed on the host.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
START=$(date +%s)
TMP=""
QEMU_PID=""

fail() {
    echo "FAIL: $*"
    exit 1
}
cleanup() {
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT

[ $# -eq 1 ] || fail "usage: $0 /path/to/vigil"
VIGIL=$(realpath "$1" 2>/dev/null) || fail "vigil binary $1 not found"
[ -x "$VIGIL" ] || fail "vigil binary $VIGIL is not executable"
[ "$(id -u)" = 0 ] || fail "needs root (apt-get download, and the guest files must be owned by root)"
for tool in qemu-system-x86_64 jq ldd dpkg apt-get; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install -y qemu-system-x86 jq)"
done
BUSYBOX=$(command -v busybox) || fail "busybox not found (apt-get install -y busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then fail "$BUSYBOX is dynamically linked (install busybox-static)"; fi

TMP=$(mktemp -d /tmp/vigil-vm.XXXXXX)
INITRD_DIR=$TMP/initramfs
SHARE=$TMP/share
mkdir -p "$INITRD_DIR"/{bin,modules,proc,sys,dev} "$SHARE"

# --- the kernel: Debian's generic 6.1 flavour, unpacked into the temp dir --------------------
PKG=${VIGIL_VM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -1)}
[ -n "$PKG" ] || fail "no linux-image-6.1.0-NN-amd64 known to apt (run apt-get update, or set VIGIL_VM_KERNEL_PKG)"
if [ -n "${VIGIL_VM_KERNEL_DEB:-}" ]; then
    DEB=$VIGIL_VM_KERNEL_DEB
else
    (cd "$TMP" && apt-get download -q "$PKG" >"$TMP/apt.log" 2>&1) ||
        fail "apt-get download $PKG failed: $(tail -3 "$TMP/apt.log")"
    DEB=$(ls "$TMP"/"$PKG"_*.deb)
fi
dpkg -x "$DEB" "$TMP/kernel" || fail "dpkg -x $DEB failed"
KVER=${PKG#linux-image-}
VMLINUZ=$TMP/kernel/boot/vmlinuz-$KVER
MODDIR=$TMP/kernel/lib/modules/$KVER
[ -f "$VMLINUZ" ] || fail "$VMLINUZ missing from $DEB"
grep -q '^CONFIG_CGROUP_PIDS=y' "$TMP/kernel/boot/config-$KVER" || fail "$PKG lacks CONFIG_CGROUP_PIDS"

# An uncompressed ELF vmlinux (PVH entry) boots without the in-guest xz decompression, which
# is slow under TCG; fall back to the vmlinuz if the xz stream is not found.
KERNEL=$VMLINUZ
off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$VMLINUZ" | head -1 | cut -d: -f1 || true)
if [ -n "$off" ] && grep -q '^CONFIG_PVH=y' "$TMP/kernel/boot/config-$KVER"; then
    # xz stops with an error at the data after its stream; the ELF magic decides.
    tail -c +$((off + 1)) "$VMLINUZ" | xz -dc >"$TMP/vmlinux" 2>/dev/null || true
    if [ "$(head -c 4 "$TMP/vmlinux")" = $'\x7fELF' ]; then KERNEL=$TMP/vmlinux; fi
fi

# The 9p modules and their dependencies, in load order (depth first over modinfo's depends=).
declare -A MOD_PATH=() MOD_DONE=()
while IFS= read -r ko; do
    name=${ko##*/}
    name=${name%.ko}
    MOD_PATH[${name//-/_}]=$ko
done < <(find "$MODDIR/kernel" -name '*.ko')
mod_depends() { tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | tr ',' ' '; }
add_module() {
    local name=${1//-/_} dep
    [ -z "${MOD_DONE[$name]:-}" ] || return 0
    if grep -q "/${name}.ko\$" "$MODDIR/modules.builtin" 2>/dev/null ||
        grep -q "/${1}.ko\$" "$MODDIR/modules.builtin" 2>/dev/null; then
        MOD_DONE[$name]=builtin
        return 0
    fi
    [ -n "${MOD_PATH[$name]:-}" ] || fail "module $name not found in $PKG"
    MOD_DONE[$name]=pending
    for dep in $(mod_depends "${MOD_PATH[$name]}"); do add_module "$dep"; done
    cp "${MOD_PATH[$name]}" "$INITRD_DIR/modules/$name.ko"
    echo "$name.ko" >>"$INITRD_DIR/modules/order"
    MOD_DONE[$name]=loaded
}
for m in virtio_pci 9pnet_virtio 9p; do add_module "$m"; done

# --- the initramfs: static busybox, vigil's shared libraries and loader, the modules, /init ---
cp "$BUSYBOX" "$INITRD_DIR/bin/busybox"
ln -s busybox "$INITRD_DIR/bin/sh"
cp "$HERE/init" "$INITRD_DIR/init"
chmod 755 "$INITRD_DIR/init"
# vigil is dynamically linked (glibc, libseccomp): copy each library and the loader to the
# path the binary asks for, so it runs (and re-executes itself) as on a normal host.
while read -r lib; do
    mkdir -p "$INITRD_DIR$(dirname "$lib")"
    cp -L "$lib" "$INITRD_DIR$lib"
done < <(ldd "$VIGIL" | grep -o '/[^ ]*' | sort -u)
(cd "$INITRD_DIR" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$TMP/initrd.gz")

# --- the share: vigil, a busybox rootfs, three bundles, the in-VM test ------------------------
cp "$VIGIL" "$SHARE/vigil"
cp "$HERE/vm-test.sh" "$SHARE/vm-test.sh"
chmod 755 "$SHARE/vm-test.sh"
mkdir -p "$SHARE/rootfs/bin"
cp "$BUSYBOX" "$SHARE/rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$SHARE/rootfs/bin/$applet"
done
mkdir -p "$TMP/spec"
(cd "$TMP/spec" && "$VIGIL" spec) || fail "vigil spec failed"
make_bundle() { # make_bundle ID CGROUPS_PATH|"" ARGS_JSON
    mkdir -p "$SHARE/bundle-$1"
    jq --arg cg "$2" --argjson args "$3" '
        .root.path = "/tmp/rootfs" | .process.terminal = false | .process.args = $args
        | .hostname = "vigil-v2"
        | .linux.resources.pids.limit = 16
        | if $cg == "" then del(.linux.cgroupsPath) else .linux.cgroupsPath = $cg end' \
        "$TMP/spec/config.json" >"$SHARE/bundle-$1/config.json" || fail "jq on vigil's spec failed"
}
make_bundle c1 /vigil-test/c1 \
    '["sh","-c","echo VIGIL-CONTAINER-STARTED; echo \"CGROUP-IN-CONTAINER $(cat /proc/self/cgroup)\"; exec sleep 600"]'
make_bundle c3 /vigil-test/c3 '["sleep","600"]'
make_bundle c2 "" '["sh","-c","echo VIGIL-C2-RAN; exit 3"]'

# --- boot ---------------------------------------------------------------------------------------
PREP=$(($(date +%s) - START))
LOG=$TMP/serial.log
BOOT=$(date +%s)
timeout "${VIGIL_VM_TIMEOUT:-600}" qemu-system-x86_64 \
    -accel tcg -cpu max -smp 1 -m 1024 \
    -nodefaults -nographic -serial stdio -no-reboot \
    -kernel "$KERNEL" -initrd "$TMP/initrd.gz" \
    -append "console=ttyS0 panic=-1 cgroup_no_v1=all quiet" \
    -virtfs "local,path=$SHARE,mount_tag=host0,security_model=none" \
    </dev/null >"$LOG" 2>&1 &
QEMU_PID=$!
rc=0
wait "$QEMU_PID" || rc=$?
QEMU_PID=""
VM_SECS=$(($(date +%s) - BOOT))
tr -d '\r' <"$LOG" >"$LOG.txt"
if [ -n "${VIGIL_VM_KEEP_LOG:-}" ]; then cp "$LOG.txt" "$VIGIL_VM_KEEP_LOG"; fi

grep -o 'VIGIL-V2-.*' "$LOG.txt" || true
echo "kernel: $(basename "$KERNEL") of $PKG"
echo "timing: prepare ${PREP}s, VM boot+test+poweroff ${VM_SECS}s, total $(($(date +%s) - START))s"
if grep -q '^VIGIL-V2-OK$' "$LOG.txt"; then
    echo "PASS: vigil created, started, updated, ran and deleted busybox containers on pure cgroup v2 ($PKG)"
    exit 0
fi
echo "--- last serial lines ---"
tail -40 "$LOG.txt"
if [ "$rc" = 124 ]; then fail "the VM did not finish within ${VIGIL_VM_TIMEOUT:-600}s"; fi
reason=$(grep -m1 '^VIGIL-V2-FAIL' "$LOG.txt" || true)
[ -n "$reason" ] || reason="no VIGIL-V2-OK marker in the serial output (qemu exit $rc)"
fail "$reason"
