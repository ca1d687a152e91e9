"""The Linux lane's guest (scripts/build-linux-guest.sh: Debian's cloud kernel and
the busybox initramfs) booted through OVMF on q35 (docs/q35.md "Firmware boot"):
`-kernel` + `-initrd` + `-append` go to the firmware as fw_cfg items, OVMF's
kernel loader starts the kernel's EFI stub, which loads the initrd from OVMF's
LINUX_EFI_INITRD_MEDIA device path. One boot on Stratus (-accel emu) and one on
QEMU's q35 (-accel tcg) with the same images, each to the initramfs's ready
marker (which the initramfs's /init prints, so the initrd arrived) and its
shell: `nproc` answers 1, /sys/firmware/efi exists (the kernel
runs on UEFI, not a direct boot), the command line is the guest's, and a
virtio-blk-pci's 64-bit BAR stays where OVMF placed it, inside the host bridge's
_CRS window (no "no compatible bridge window"). The times
to the ready marker are printed (no timed assert; scripts/bench/boot-firmware
compares firmware boots)."""

import re
import time

import pytest

from linux_guest import PROMPT, READY, sh
from stratus_vm import QemuVm, Vm, tail
from test_q35_firmware import ovmf_images

pytestmark = [pytest.mark.qemu, pytest.mark.linux,
              pytest.mark.covers(options=["drive", "kernel", "initrd", "append"])]

# Generous: OVMF and Linux on the software CPU of a loaded 2-core host.
BOOT_TIMEOUT = 900


def boot_and_check(vm, cmdline):
    """Boots vm to the ready marker and its prompt; checks the shell's answers.
    Returns the seconds from launch to the ready marker."""
    start = time.monotonic()
    vm.launch()
    boot = vm.console.read_until(READY, BOOT_TIMEOUT)
    took = time.monotonic() - start
    assert re.search(r"modules: loaded (\d+) of \1\r?\n", boot), boot[-3000:]
    vm.console.read_until(re.escape(PROMPT), 60)
    sh(vm, "dmesg -n 1")
    assert sh(vm, "nproc").split() == ["1"]
    assert sh(vm, "test -d /sys/firmware/efi && echo efi").split() == ["efi"]
    got = sh(vm, "cat /proc/cmdline").split()
    assert got[:len(cmdline.split())] == cmdline.split(), got
    check_bar_in_window(vm)
    return took


def check_bar_in_window(vm):
    """The disk's 64-bit BAR 4 stays where OVMF put it, inside a window of the host
    bridge's _CRS (the tables are rebuilt at the firmware's first read, docs/q35.md),
    and the kernel moved nothing."""
    log = sh(vm, "dmesg")
    assert "no compatible bridge window" not in log, log
    start = int(sh(vm, "cat /sys/bus/pci/devices/0000:00:04.0/resource").split("\n")[4]
                .split()[0], 16)
    windows = [(int(a, 16), int(b, 16)) for a, b in
               re.findall(r"root bus resource \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)", log)]
    print("BAR 4 at 0x%x; windows %s" % (start, [(hex(a), hex(b)) for a, b in windows]))
    assert start >= 1 << 32 and any(a <= start <= b for a, b in windows), (hex(start), windows)


@pytest.mark.test_timeout(2 * BOOT_TIMEOUT + 120)
def test_linux_through_ovmf_on_stratus_and_qemu(stratus, qemu_bin, linux_guest_dir, tmp_path):
    cmdline = (linux_guest_dir / "cmdline").read_text().strip()
    common = dict(kernel=linux_guest_dir / "vmlinuz",
                  initrd=linux_guest_dir / "initramfs.cpio.gz",
                  machine="q35", mem="512M", append=cmdline, workdir=tmp_path)
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    devices = ["-drive", "if=none,id=d0,file=%s,format=raw" % disk,
               "-device", "virtio-blk-pci,drive=d0,addr=0x4"]
    times = {}
    for name, cls, binary, accel in (("stratus", Vm, stratus, "emu"),
                                     ("qemu", QemuVm, qemu_bin, "tcg")):
        vm = cls(binary, accel=accel, name="%s-ovmf" % name,
                 extra_args=ovmf_images(tmp_path, name) + devices, **common)
        try:
            times[name] = boot_and_check(vm, cmdline)
        except BaseException:
            print("\n===== %s =====\n%s" % (vm.name, vm.describe()))
            if vm.console is not None:
                print("--- console transcript (tail) ---\n" + tail(vm.console.transcript, 80))
            raise
        finally:
            vm.cleanup()
    print("\nOVMF + the Linux guest to its ready marker: Stratus %.1f s, QEMU %.1f s"
          % (times["stratus"], times["qemu"]))
