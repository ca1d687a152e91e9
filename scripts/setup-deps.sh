#!/bin/bash
# Install every Debian 12 package Stratus needs to build, test and benchmark.
# One list, used by both README commands (demo and tests). Run as root.
# Skips apt-get entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
    # build
    build-essential meson ninja-build pkg-config
    libglib2.0-dev libjson-glib-dev libaio-dev liburing-dev
    # the emu accelerator's x86 decoder; capstone is the independent oracle in its tests
    libzydis-dev libcapstone-dev
    # tests (Debian's pytest, run with /usr/bin/python3 -m pytest)
    python3 python3-pytest
    # the seeds' `ncat -U` QMP session
    ncat
    # the installed conformance suite run as distributions do (docs/conformance.md)
    gnome-desktop-testing
    # QEMU cross-check and boot benchmark
    qemu-system-x86
    # firmware boot on q35 (OVMF_CODE_4M.fd, OVMF_VARS_4M.fd)
    ovmf
    # fuzzing
    clang
    # Linux guest lane: /boot/vmlinuz-*-cloud-amd64, busybox initramfs
    linux-image-cloud-amd64 busybox-static cpio
    # the Linux lane's ext4 image (mkfs.ext4 -d, debugfs, e2fsck)
    e2fsprogs
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "setup-deps: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
fi

echo "setup-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
