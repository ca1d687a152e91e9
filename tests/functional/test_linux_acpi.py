"""Debian's cloud kernel with the busybox initramfs of scripts/build-linux-guest.sh on
Stratus's `-machine microvm,acpi=on`, on the software CPU (docs/microvm.md "ACPI").

The kernel has no MP-table parser and no virtio_mmio.device= support, so what it
finds comes from Stratus's tables: both vCPUs (MADT), every virtio-mmio transport
(DSDT LNRO0005 devices, bound by the modules /init loads: vda with its size, the
empty block and net slots, virtio-rng), COM1 (PNP0501), the GED and the power
button; system_powerdown goes PM block -> GSI 3 -> GED _EVT -> Notify(PWRB) ->
the button driver -> busybox acpid, which powers off through _S5 and the sleep
control register (SHUTDOWN, exit status 0).

About a minute on emu (68 s measured on a busy 2-core host)."""

import re

import pytest

from linux_guest import PROMPT, READY, POWERBUTTON, sh

pytestmark = [pytest.mark.linux]

BOOT_TIMEOUT = 900


@pytest.mark.test_timeout(1500)
@pytest.mark.parametrize("accel", ["emu"])
def test_linux_microvm_acpi(make_vm, linux_guest_dir, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (8 << 20))
    vm = make_vm(kernel=linux_guest_dir / "vmlinuz",
                 initrd=linux_guest_dir / "initramfs.cpio.gz",
                 machine="microvm,acpi=on", mem="512M", smp=2,
                 append="console=ttyS0 reboot=k panic=-1",
                 extra_args=["-drive", "id=d0,file=%s,format=raw,if=none" % disk,
                             "-device", "virtio-blk-device,drive=d0",
                             "-object", "rng-random,id=rng0,filename=/dev/urandom",
                             "-device", "virtio-rng-device,rng=rng0"])
    vm.launch()
    boot = vm.console.read_until(READY, BOOT_TIMEOUT)
    # No tsc_early_khz=: the kernel takes emu's 1 GHz TSC from CPUID 0x15/0x16 as a known
    # frequency: no PIT calibration (which fails on a busy host: "could not calculate TSC
    # khz" and the boot stops) and no later refinement
    assert "tsc: Detected 1000.000 MHz processor" in boot, boot[-3000:]
    assert "could not calculate TSC khz" not in boot, boot[-3000:]
    assert "Refined TSC" not in boot, boot[-3000:]
    # nor does the clocksource watchdog mark it unstable: CPUID advertises TSC_ADJUST
    assert "Marking TSC unstable" not in boot, boot[-3000:]
    assert "ACPI: Using ACPI (MADT) for SMP configuration information" in boot, boot[-3000:]
    assert re.search(r"modules: loaded (\d+) of \1\r?\n", boot), boot[-3000:]
    vm.console.read_until(re.escape(PROMPT), 60)
    assert sh(vm, "nproc").split() == ["2"]
    flags = sh(vm, "grep -m1 ^flags /proc/cpuinfo").split()
    assert {"constant_tsc", "nonstop_tsc", "tsc_known_freq"} <= set(flags), flags
    assert sh(vm, "cat /sys/block/vda/size").split() == [str(8 << 20 >> 9)]
    # 6 block slots, 2 net slots, virtio-rng: one LNRO0005 device each
    platform = sh(vm, "ls /sys/bus/platform/devices").split()
    assert sorted(p for p in platform if p.startswith("LNRO0005:")) == \
        ["LNRO0005:%02x" % i for i in range(9)], platform
    assert {"ACPI0013:00", "PNP0C0C:00"} <= set(platform), platform
    assert "virtio8" in sh(vm, "ls /sys/bus/virtio/drivers/virtio_rng").split()
    assert "00:00" in sh(vm, "ls /sys/bus/pnp/devices").split()      # COM1, PNP0501
    assert vm.qmp.execute("system_powerdown") == {"return": {}}
    vm.console.read_until(POWERBUTTON, 300)
    assert vm.wait(300) == 0
