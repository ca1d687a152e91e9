#!/bin/bash
# Build a Linux guest for Stratus from Debian packages:
#   kernel:    /boot/vmlinuz-*-cloud-amd64 (package linux-image-cloud-amd64), as is
#   initramfs: busybox (package busybox-static) + an /init that mounts proc, sys and
#              devtmpfs, prints the marker line STRATUS-LINUX-GUEST-READY and runs
#              a shell (prompt "linux# ") on the console (ttyS0 with console=ttyS0).
#
# Usage: scripts/build-linux-guest.sh [OUTDIR]      (default: build/linux-guest)
# Output: OUTDIR/vmlinuz, OUTDIR/initramfs.cpio.gz, OUTDIR/cmdline (suggested -append)
# Boot:   build/stratus -m 512M -smp 2 -kernel OUTDIR/vmlinuz -initrd OUTDIR/initramfs.cpio.gz \
#           -append "$(cat OUTDIR/cmdline)" -serial stdio -qmp unix:/tmp/q.sock,server,nowait
# Needs guest CPL0 at native speed to boot in useful time (see scripts/native-kvm-probe).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/linux-guest}
BUSYBOX=${BUSYBOX:-/bin/busybox}

kernel=${LINUX_GUEST_KERNEL:-}
if [ -z "$kernel" ]; then
    kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$kernel" ] || [ ! -r "$kernel" ]; then
    echo "build-linux-guest: no readable /boot/vmlinuz-*-cloud-amd64;" \
         "install linux-image-cloud-amd64 (scripts/setup-deps.sh)" >&2
    exit 1
fi
if ! "$BUSYBOX" --help 2>&1 | head -n 1 | grep -q BusyBox; then
    echo "build-linux-guest: $BUSYBOX is not busybox; install busybox-static" >&2
    exit 1
fi
if file -L "$BUSYBOX" 2>/dev/null | grep -q "dynamically linked"; then
    echo "build-linux-guest: $BUSYBOX is dynamically linked; install busybox-static" >&2
    exit 1
fi
command -v cpio >/dev/null || { echo "build-linux-guest: cpio missing" >&2; exit 1; }

mkdir -p "$OUT"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,root,etc,usr/bin,usr/sbin}
cp "$BUSYBOX" "$stage/bin/busybox"
for app in sh mount umount echo cat ls mkdir poweroff reboot sync sleep setsid cttyhack \
           uname dmesg grep; do
    ln -sf busybox "$stage/bin/$app"
done
# the kernel opens /dev/console for init's stdio before devtmpfs is mounted
if [ "$(id -u)" = 0 ]; then
    mknod -m 600 "$stage/dev/console" c 5 1
    mknod -m 666 "$stage/dev/null" c 1 3
fi

cat > "$stage/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
echo
echo "STRATUS-LINUX-GUEST-READY kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo)"
export PS1='linux# ' HOME=/root PATH=/bin:/sbin:/usr/bin:/usr/sbin
cd /root
while true; do
    setsid cttyhack /bin/sh
    echo "shell exited; restarting"
done
EOF
chmod 755 "$stage/init"

cp "$kernel" "$OUT/vmlinuz"
(cd "$stage" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) | gzip -9 \
    > "$OUT/initramfs.cpio.gz"
echo "console=ttyS0 reboot=k panic=-1 quiet" > "$OUT/cmdline"

echo "kernel:    $OUT/vmlinuz (from $kernel)"
echo "initramfs: $OUT/initramfs.cpio.gz ($(stat -c %s "$OUT/initramfs.cpio.gz") bytes)"
echo "cmdline:   $(cat "$OUT/cmdline")"
