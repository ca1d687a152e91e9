"""Shared by the Linux-guest tests (test_linux*.py): the guest of
scripts/build-linux-guest.sh (Debian's cloud kernel + the busybox initramfs),
built once per session, and a way to run shell commands on its console.

The guest itself is conftest.py's session fixture `linux_guest_dir` (a fixture
imported into several test modules would be one fixture per module, each building
the guest again).
"""

import hashlib
import os
import re
import shutil
import subprocess

from stratus_vm import tail

PROMPT = "linux# "
READY = r"STRATUS-LINUX-GUEST-READY[^\n]*\n"
POWERBUTTON = "STRATUS-LINUX-GUEST-POWERBUTTON"


# The files of the ext4 image the disk tests mount (name -> content)
EXT4_FILES = {"small.txt": b"stratus linux guest\n",
              "random.bin": os.urandom(300 << 10),
              "dir/nested.bin": os.urandom(70 << 10)}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def make_ext4_image(d, size="32M"):
    """d/disk.ext4: an ext4 image holding EXT4_FILES (mkfs.ext4 -d, e2fsprogs >= 1.43)."""
    src = d / "src"
    for name, data in EXT4_FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    img = d / "disk.ext4"
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    assert os.path.exists(mkfs), "mkfs.ext4 missing: install e2fsprogs (scripts/setup-deps.sh)"
    p = subprocess.run([mkfs, "-q", "-F", "-L", "stratus", "-d", str(src), str(img), size],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return img


def check_ext4_files(vm, mnt="/mnt"):
    """The guest's SHA-256 of every file of EXT4_FILES under mnt equals the host's."""
    out = sh(vm, "(cd %s && sha256sum %s)" % (mnt, " ".join(sorted(EXT4_FILES))))
    got = {name: digest for digest, name in (line.split() for line in out.splitlines())}
    assert got == {name: sha256(data) for name, data in EXT4_FILES.items()}, out


def print_diagnostics(request, vms):
    """After a failed test: each VM's command line, exit status, stderr and
    console tail (for the module-scoped VMs that make_vm does not own)."""
    rep = getattr(request.node, "rep_call", None)
    if rep is None or not rep.failed:
        return
    for v in vms:
        if v is not None and v.proc is not None:
            print("\n===== %s =====\n%s" % (v.name, v.describe()))
            if v.console is not None:
                print("--- console transcript (tail) ---\n" + tail(v.console.transcript, 80))


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
