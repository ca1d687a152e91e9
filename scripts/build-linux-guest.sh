#!/bin/bash
# Build a Linux guest for Stratus from Debian packages:
#   kernel:    /boot/vmlinuz-*-cloud-amd64 (package linux-image-cloud-amd64), as is
#   initramfs: busybox (package busybox-static), the kernel's virtio modules with
#              their dependencies plus the ACPI power button and evdev (from the
#              installed linux-image package), and an /init that mounts proc, sys and
#              devtmpfs, loads the modules in dependency order, starts busybox acpid
#              (power button -> poweroff), prints the marker line
#              STRATUS-LINUX-GUEST-READY and runs a shell (prompt "linux# ") on the
#              console (ttyS0 with console=ttyS0).
#
# Debian's kernels build every virtio driver as a module and have no
# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES: virtio-mmio devices are found through ACPI
# (-machine microvm,acpi=on, docs/microvm.md), virtio-pci ones on q35's PCI bus.
# The modules come from /lib/modules/<the kernel's version> (LINUX_GUEST_MODULES
# overrides the directory); /init prints "modules: loaded N of M" and names any
# module that failed to load.
#
# Usage: scripts/build-linux-guest.sh [OUTDIR]      (default: build/linux-guest)
# Output: OUTDIR/vmlinuz, OUTDIR/initramfs.cpio.gz, OUTDIR/cmdline (suggested -append)
# Boot:   build/stratus -machine microvm,acpi=on -m 512M -smp 2 -kernel OUTDIR/vmlinuz \
#           -initrd OUTDIR/initramfs.cpio.gz -append "$(cat OUTDIR/cmdline)" \
#           -serial stdio -qmp unix:/tmp/q.sock,server,nowait
# Exit status 2: a host package it needs is missing (the message names it); 1: other errors.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/linux-guest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
# The drivers the guest loads. Each must be a module of the kernel or built into it.
MODULES="virtio virtio_ring virtio_mmio virtio_pci virtio_blk virtio_net virtio_balloon
         virtio_console virtio-rng vsock vmw_vsock_virtio_transport button evdev"

kernel=${LINUX_GUEST_KERNEL:-}
if [ -z "$kernel" ]; then
    kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
    echo "build-linux-guest: no readable /boot/vmlinuz-*-cloud-amd64;" \
         "install linux-image-cloud-amd64 (scripts/setup-deps.sh)" >&2
    exit 2
fi
kver=$(basename "$kernel")
kver=${kver#vmlinuz-}
moddir=${LINUX_GUEST_MODULES:-/lib/modules/$kver}
if [ ! -r "$moddir/modules.dep" ]; then
    echo "build-linux-guest: no $moddir/modules.dep for kernel $kver;" \
         "install the matching linux-image package" >&2
    exit 2
fi
# (not "busybox --help | head": under pipefail its SIGPIPE would fail the check at random)
bb_help=$("$BUSYBOX" --help 2>&1 || true)
if [[ "$bb_help" != BusyBox* ]]; then
    echo "build-linux-guest: $BUSYBOX is not busybox; install busybox-static" >&2
    exit 2
fi
if file -L "$BUSYBOX" 2>/dev/null | grep -q "dynamically linked"; then
    echo "build-linux-guest: $BUSYBOX is dynamically linked; install busybox-static" >&2
    exit 2
fi
command -v cpio >/dev/null || { echo "build-linux-guest: cpio missing; install cpio" >&2; exit 2; }

mkdir -p "$OUT"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,root,etc,usr/bin,usr/sbin,lib/modules,var/log,var/run}
cp "$BUSYBOX" "$stage/bin/busybox"
for app in sh mount umount echo cat ls mkdir poweroff reboot sync sleep setsid cttyhack \
           uname dmesg grep insmod lsmod acpid; do
    ln -sf busybox "$stage/bin/$app"
done
# the kernel opens /dev/console for init's stdio before devtmpfs is mounted
if [ "$(id -u)" = 0 ]; then
    mknod -m 600 "$stage/dev/console" c 5 1
    mknod -m 666 "$stage/dev/null" c 1 3
fi

# ---- kernel modules, in dependency order (modules.dep) ------------------------
declare -A deps_of=()     # module file (relative to $moddir) -> the files it needs
declare -A file_of=()     # module name, '-' as '_' -> module file
while IFS= read -r line; do
    f=${line%%:*}
    deps_of[$f]=${line#*:}
    n=$(basename "$f")
    n=${n%%.ko*}
    file_of[${n//-/_}]=$f
done < "$moddir/modules.dep"

order=()
declare -A placed=()
place() {      # appends $1 after everything it depends on, once
    local f=$1 d
    [ -n "${placed[$f]:-}" ] && return 0
    placed[$f]=1
    for d in ${deps_of[$f]}; do
        place "$d"
    done
    order+=("$f")
}
for m in $MODULES; do
    if [ -n "${file_of[${m//-/_}]:-}" ]; then
        place "${file_of[${m//-/_}]}"
    elif ! grep -Eq "/$m\.ko" "$moddir/modules.builtin" 2>/dev/null; then
        echo "build-linux-guest: module $m is neither in $moddir/modules.dep nor built in" >&2
        exit 1
    fi
done

: > "$stage/lib/modules/load-order"
for f in "${order[@]}"; do
    b=$(basename "$f")
    # busybox insmod takes plain ELF objects: unpack compressed modules here
    case "$b" in
    *.ko.xz)  b=${b%.xz};  xz -dc "$moddir/$f" > "$stage/lib/modules/$b" ;;
    *.ko.zst) b=${b%.zst}; zstd -qdc "$moddir/$f" > "$stage/lib/modules/$b" ;;
    *.ko.gz)  b=${b%.gz};  gzip -dc "$moddir/$f" > "$stage/lib/modules/$b" ;;
    *)        cp "$moddir/$f" "$stage/lib/modules/$b" ;;
    esac
    echo "$b" >> "$stage/lib/modules/load-order"
done

# busybox acpid maps the power button's KEY_POWER to event PWRF and runs this file
mkdir -p "$stage/etc/acpi/PWRF"
cat > "$stage/etc/acpi/PWRF/00000080" <<'END_OF_HANDLER'
#!/bin/sh
echo "STRATUS-LINUX-GUEST-POWERBUTTON" > /dev/console
sync
poweroff -f
END_OF_HANDLER
chmod 755 "$stage/etc/acpi/PWRF/00000080"

cat > "$stage/init" <<'END_OF_INIT'
#!/bin/sh
/bin/busybox --install -s /bin 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
loaded=0 total=0 failed=
while read -r mod; do
    total=$((total + 1))
    if insmod "/lib/modules/$mod"; then
        loaded=$((loaded + 1))
    else
        failed="$failed ${mod%.ko}"
    fi
done < /lib/modules/load-order
echo "modules: loaded $loaded of $total${failed:+ (failed:$failed)}"
acpid -c /etc/acpi || echo "acpid failed: the power button does nothing"
echo
echo "STRATUS-LINUX-GUEST-READY kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
export PS1='linux# ' HOME=/root PATH=/bin:/sbin:/usr/bin:/usr/sbin
cd /root
while true; do
    setsid cttyhack /bin/sh
    echo "shell exited; restarting"
done
END_OF_INIT
chmod 755 "$stage/init"

cp "$kernel" "$OUT/vmlinuz"
(cd "$stage" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -9 \
    > "$OUT/initramfs.cpio.gz"
echo "console=ttyS0 reboot=k panic=-1 quiet" > "$OUT/cmdline"

echo "kernel:    $OUT/vmlinuz (from $kernel)"
echo "initramfs: $OUT/initramfs.cpio.gz ($(stat -c %s "$OUT/initramfs.cpio.gz") bytes," \
     "${#order[@]} modules from $moddir)"
echo "cmdline:   $(cat "$OUT/cmdline")"
