"""The Linux lane: Debian's cloud kernel + a busybox initramfs
(scripts/build-linux-guest.sh) boots on Stratus to a shell.

A KVM-only lane (it runs with -accel kvm and is marked `kvm`): where /dev/kvm is
not usable it skips with "KVM-only test on a host without KVM: ...".  It runs only
where guest CPL0 runs at native speed (scripts/native-kvm-probe); elsewhere it
skips with a reason starting "guest CPL0 not native" (on kvm_pvm hosts a Linux
kernel does not boot in useful time).  CI allows both skips."""

import re
import subprocess
import sys

import pytest

from conftest import SCRIPTS_DIR, LINUX_LANE_SKIP
from linux_guest import PROMPT, READY, sh_status

pytestmark = [pytest.mark.kvm, pytest.mark.linux,
              pytest.mark.covers(options=["accel", "kernel", "initrd", "append"])]

LINUX_BOOT_TIMEOUT = 120


@pytest.fixture(scope="session")
def native_cpl0():
    p = subprocess.run([sys.executable, str(SCRIPTS_DIR / "native-kvm-probe")],
                       capture_output=True,
                       text=True, timeout=60)
    line = (p.stdout.strip().splitlines() or [p.stderr.strip() or "probe printed nothing"])[0]
    if p.returncode != 0:
        if not line.startswith(LINUX_LANE_SKIP):
            line = "%s: %s" % (LINUX_LANE_SKIP, line)
        pytest.skip(line)
    return line


@pytest.fixture(scope="session")
def linux_guest(native_cpl0, linux_guest_dir):
    return {"kernel": linux_guest_dir / "vmlinuz",
            "initrd": linux_guest_dir / "initramfs.cpio.gz",
            "cmdline": (linux_guest_dir / "cmdline").read_text().strip()}


@pytest.mark.test_timeout(300)
@pytest.mark.parametrize("accel", ["kvm"])
def test_linux_boots_to_shell(make_vm, linux_guest):
    vm = make_vm(kernel=linux_guest["kernel"], initrd=linux_guest["initrd"],
                 append=linux_guest["cmdline"], mem="512M", smp=2, console="stdio")
    vm.launch()
    vm.console.read_until(READY, LINUX_BOOT_TIMEOUT)
    vm.console.read_until(re.escape(PROMPT), 30)
    status, out = sh_status(vm, "cat /proc/cpuinfo")
    assert status == 0, out
    assert len(re.findall(r"^processor\s*:", out, re.M)) == 2, out
    status, out = sh_status(vm, "cat /proc/cmdline")
    assert "console=ttyS0" in out
    assert vm.quit() == 0
