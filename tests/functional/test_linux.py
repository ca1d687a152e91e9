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
from pathlib import Path

import pytest

from conftest import ROOT, LINUX_LANE_SKIP

pytestmark = [pytest.mark.kvm, pytest.mark.linux,
              pytest.mark.source_tree("scripts/build-linux-guest.sh, scripts/native-kvm-probe"),
              pytest.mark.covers(options=["accel", "kernel", "initrd", "append"])]

LINUX_BOOT_TIMEOUT = 120
SHELL_PROMPT = "linux# "


@pytest.fixture(scope="session")
def native_cpl0():
    p = subprocess.run([sys.executable, str(ROOT / "scripts/native-kvm-probe")],
                       capture_output=True,
                       text=True, timeout=60)
    line = (p.stdout.strip().splitlines() or [p.stderr.strip() or "probe printed nothing"])[0]
    if p.returncode != 0:
        if not line.startswith(LINUX_LANE_SKIP):
            line = "%s: %s" % (LINUX_LANE_SKIP, line)
        pytest.skip(line)
    return line


@pytest.fixture(scope="session")
def linux_guest(native_cpl0, tmp_path_factory):
    out = tmp_path_factory.mktemp("linux-guest")
    p = subprocess.run(["bash", str(ROOT / "scripts/build-linux-guest.sh"), str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "build-linux-guest.sh failed:\n%s%s" % (p.stdout, p.stderr)
    return {"kernel": out / "vmlinuz", "initrd": out / "initramfs.cpio.gz",
            "cmdline": (out / "cmdline").read_text().strip()}


_seq = [0]


def sh(vm, cmd, timeout=30):
    """Run a shell command; return (exit status, output).  The markers are
    written as __B_""N__ so the shell's echo of the command line (which line
    editing may wrap and redraw) never matches them; only the output does."""
    _seq[0] += 1
    n = _seq[0]
    vm.console.write('echo __B_""%d__; %s; echo __E_""%d__$?\n' % (n, cmd, n))
    vm.console.read_until(r"__B_%d__\r?\n" % n, timeout)
    out = vm.console.read_until(r"__E_%d__(\d+)" % n, timeout)
    vm.console.read_until(re.escape(SHELL_PROMPT), timeout)
    m = re.search(r"__E_%d__(\d+)$" % n, out)
    return int(m.group(1)), out[:m.start()]


@pytest.mark.test_timeout(300)
@pytest.mark.parametrize("accel", ["kvm"])
def test_linux_boots_to_shell(make_vm, linux_guest):
    vm = make_vm(kernel=linux_guest["kernel"], initrd=linux_guest["initrd"],
                 append=linux_guest["cmdline"], mem="512M", smp=2, console="stdio")
    vm.launch()
    vm.console.read_until(r"STRATUS-LINUX-GUEST-READY[^\n]*\n", LINUX_BOOT_TIMEOUT)
    vm.console.read_until(re.escape(SHELL_PROMPT), 30)
    status, out = sh(vm, "cat /proc/cpuinfo")
    assert status == 0, out
    assert len(re.findall(r"^processor\s*:", out, re.M)) == 2, out
    status, out = sh(vm, "cat /proc/cmdline")
    assert "console=ttyS0" in out
    assert vm.quit() == 0
