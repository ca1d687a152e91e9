"""Shared by the Linux-guest tests (test_linux*.py): the guest of
scripts/build-linux-guest.sh (Debian's cloud kernel + the busybox initramfs),
built once per session, and a way to run shell commands on its console.

Test modules take the fixture by importing it:

    from linux_guest import linux_guest_dir, sh, PROMPT   # noqa: F401 (fixture)
"""

import re
import subprocess

import pytest

from conftest import ROOT

PROMPT = "linux# "
READY = r"STRATUS-LINUX-GUEST-READY[^\n]*\n"
POWERBUTTON = "STRATUS-LINUX-GUEST-POWERBUTTON"


@pytest.fixture(scope="session")
def linux_guest_dir(tmp_path_factory):
    """The directory build-linux-guest.sh wrote: vmlinuz, initramfs.cpio.gz,
    cmdline.  Built once per session (a few seconds of gzip -9)."""
    out = tmp_path_factory.mktemp("linux-guest")
    p = subprocess.run(["bash", str(ROOT / "scripts/build-linux-guest.sh"), str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "build-linux-guest.sh failed:\n%s%s" % (p.stdout, p.stderr)
    return out


_seq = [0]


def sh_status(vm, cmd, timeout=120):
    """Runs one shell command line on the console; returns (exit status, output
    with '\\r' removed).  The markers are written as __B_""N__ so the shell's echo
    of the command line (which line editing may wrap and redraw) never matches
    them; only the output does.  Waits for the next prompt so that the console
    is in step for the next command."""
    _seq[0] += 1
    n = _seq[0]
    vm.console.write('echo __B_""%d__; %s; echo __E_""%d__$?\n' % (n, cmd, n))
    vm.console.read_until(r"__B_%d__\r?\n" % n, timeout)
    out = vm.console.read_until(r"__E_%d__(\d+)" % n, timeout)
    vm.console.read_until(re.escape(PROMPT), timeout)
    m = re.search(r"__E_%d__(\d+)$" % n, out)
    return int(m.group(1)), out[:m.start()].replace("\r", "")


def sh(vm, cmd, timeout=120):
    """The output of a shell command that must succeed (exit status 0)."""
    status, out = sh_status(vm, cmd, timeout)
    assert status == 0, "guest: `%s` exited %d:\n%s" % (cmd, status, out)
    return out
