"""The Linux guest of scripts/build-linux-guest.sh on QEMU's microvm with ACPI
(`-M microvm,acpi=on -accel tcg -cpu max`): a check of the initramfs itself, on a
VMM whose ACPI tables describe virtio-mmio, while Linux does not yet run on
Stratus's software CPU. Debian's cloud kernel finds its CPUs in the MADT and the
virtio-mmio devices in the DSDT (it has no MP-table parser and no
virtio_mmio.device=), so this also shows that the initramfs's /init loads the
virtio modules: vda appears, virtio-rng binds, and system_powerdown reaches the
ACPI power button and busybox acpid, which powers the guest off.

QEMU's microvm has no port 0x61, HPET or PM timer, so under tcg (no kvmclock) the
kernel cannot calibrate the TSC and stops early in boot; tsc_early_khz= gives it a
frequency (any value: it only scales delays here)."""

import re

import pytest

from linux_guest import PROMPT, READY, POWERBUTTON, sh
from stratus_vm import QemuVm

pytestmark = [pytest.mark.qemu]

@pytest.mark.test_timeout(300)
@pytest.mark.parametrize("accel", ["emu"])
def test_linux_on_qemu_microvm_acpi(make_vm, qemu_bin, linux_guest_dir, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (8 << 20))
    vm = make_vm(cls=QemuVm, binary=qemu_bin, kernel=linux_guest_dir / "vmlinuz",
                 initrd=linux_guest_dir / "initramfs.cpio.gz", machine="microvm,acpi=on",
                 mem="512", smp=2,
                 append="console=ttyS0 reboot=k panic=-1 tsc_early_khz=2000000",
                 extra_args=["-global", "virtio-mmio.force-legacy=false",
                             "-drive", "id=d0,file=%s,format=raw,if=none" % disk,
                             "-device", "virtio-blk-device,drive=d0",
                             "-device", "virtio-rng-device"])
    vm.launch()
    boot = vm.console.read_until(READY, 180)
    assert re.search(r"modules: loaded (\d+) of \1\r?\n", boot), boot[-2000:]
    assert "cpus=2" in boot.splitlines()[-1]
    vm.console.read_until(re.escape(PROMPT), 30)
    assert sh(vm, "cat /sys/block/vda/size").split() == [str(8 << 20 >> 9)]
    for drv in ("virtio_blk", "virtio_rng"):
        bound = sh(vm, "ls /sys/bus/virtio/drivers/%s" % drv).split()
        assert any(re.fullmatch(r"virtio\d+", b) for b in bound), (drv, bound)
    platform = sh(vm, "ls /sys/bus/platform/devices").split()
    assert {"LNRO0005:00", "LNRO0005:01", "ACPI0013:00", "PNP0C0C:00"} <= set(platform), platform
    assert vm.qmp.execute("system_powerdown") == {"return": {}}
    vm.console.read_until(POWERBUTTON, 60)
    assert vm.wait(60) == 0
