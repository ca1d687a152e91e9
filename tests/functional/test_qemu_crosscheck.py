"""The very same test-guest bzImage on QEMU's microvm (a second, independent
implementation of the x86 boot protocol and of the devices the guest uses), on the
same kind of accelerator as Stratus: the [emu] instances use QEMU's software CPU
(`-accel tcg -cpu max`), the [kvm] ones `-enable-kvm -cpu host,-arch-capabilities`
(stratus_vm.QemuVm).

* test_qemu_boots_test_guest: QEMU boots it and answers `info`.
* test_session_transcript_matches_qemu: one scripted console session (SESSION) on
  Stratus and on QEMU gives the same transcript, after normalise() (which touches
  only what legitimately differs between the two VMMs); on [emu], where /dev/kvm
  is usable, Stratus's transcript on emu must also equal its transcript on kvm
  byte for byte (same VMM: nothing is normalised).
"""

import difflib
import re

import pytest

from conftest import kvm_usable
from stratus_vm import QEMU_ACCEL, QemuVm

pytestmark = pytest.mark.qemu

MiB = 1 << 20


@pytest.mark.parametrize("console", ["stdio", "socket"])
def test_qemu_boots_test_guest(make_vm, qemu_bin, console):
    vm = make_vm(cls=QemuVm, binary=qemu_bin, mem="256", smp=2, console=console,
                 append="console=ttyS0 crosscheck=qemu")
    vm.boot()
    info = vm.info()
    assert info["cpus"] == 2, info["raw"]
    assert info["online"] == 2, info["raw"]
    assert "crosscheck=qemu" in info["cmdline"]
    assert 254 << 20 <= info["mem_total"] <= 256 << 20, info["mem_total"]
    r = vm.run("echo cross-check")
    assert r.ok and r.get("text") == "cross-check"
    assert vm.quit() == 0


# ---------------------------------------------------------------------------
# The scripted session.  Every command's output is deterministic on any VMM that
# boots the guest the same way (docs/guest-shell.md): no timing, no interrupt
# state (`irq`), no power commands (QEMU's microvm has no PM1 block).

SESSION_MEM = "256M"
SESSION_SMP = 2
SESSION_APPEND = "console=ttyS0 crosscheck=session a=b,c"
# 12 KiB + 123 bytes: info reports its size and CRC-32, loaded by each VMM's loader
# at the top of RAM.  Not a multiple of 4 KiB on purpose: QEMU rounds down from the
# last byte of RAM and Stratus from its end, so a page-multiple initrd would sit
# one page lower on QEMU, and ram_free (which excludes it) would differ.
SESSION_INITRD = bytes((i * 131 + 7) & 0xFF for i in range(3 * 4096 + 123))
# 64 MiB + 1 MiB lies inside `ram_free` for -m 256M on both VMMs (ram_free is
# RAM minus the first MiB and the guest image, and the RAM is the same)
SESSION = [
    "echo hello",
    "echo hello world  with   spaces",
    "help",
    "info",
    "mem fill 0x4000000 0x100000 0x1234",
    "mem check 0x4000000 0x100000 0x1234",
    "mem check 0x4000000 0x1000 0x4321",        # wrong seed: every word mismatches
    "mem fill 0xfee00000 0x1000 1",             # the LAPIC, not RAM: not-in-ram-free
    "mem fill 0x4000004 0x8 1",                 # unaligned
    "no-such-command",
    "echo bye",
]
SESSION_CMD_TIMEOUT = 60

# The ISA expansion-ROM and BIOS window below 1 MiB.  Both VMMs reserve part of it
# in the e820 map, differently: QEMU's microvm firmware (qboot) reserves what it
# uses (seen: 0xf0000 + 0x10000 type 2, and 0xd0000 + 0x20000 type 4 on other
# versions); Stratus boots without firmware and, like StratoVirt, reserves
# [0xd0000, 0x100000).  A board layout difference, not a CPU one.
ROM_WINDOW = (0xC0000, 0x100000)


def normalise(text):
    """The transcript with only these VMM differences removed (nothing else):

    * banner `entry=`: Stratus jumps to the 64-bit entry point (entry=64);
      QEMU's firmware starts the kernel at the 16-bit real-mode entry (entry=16);
    * `info` e820 lines inside ROM_WINDOW (firmware reservations, see above),
      with the remaining entries renumbered; every other entry (RAM, EBDA, BIOS)
      is compared as is;
    * `info` virtio_mmio lines and the `virtio_mmio.device=` words appended to
      the kernel command line: Stratus's microvm always has its virtio-mmio
      transports (6 virtio-blk hot-plug slots and 2 virtio-net) and announces
      them; QEMU's (-nodefaults, no -device) has none in use.
    Line ends (\\r\\n), echoes, prompts and every other line must be identical."""
    out = []
    e820_index = 0
    for line in text.split("\n"):
        cr = "\r" if line.endswith("\r") else ""
        body = line[:-1] if cr else line
        body = re.sub(r"^(stratus-testguest version=\S+ entry=)(16|32|64)$",
                      r"\1<entry>", body)
        m = re.match(r"^e820 index=\d+ base=0x([0-9a-f]+) size=0x([0-9a-f]+) (type=\d+)$",
                     body)
        if m:
            base, size = int(m.group(1), 16), int(m.group(2), 16)
            if ROM_WINDOW[0] <= base and base + size <= ROM_WINDOW[1] and m.group(3) != "type=1":
                continue
            body = "e820 index=%d base=0x%x size=0x%x %s" % (e820_index, base, size,
                                                             m.group(3))
            e820_index += 1
        if body.startswith("virtio_mmio index="):
            continue
        body = re.sub(r"^virtio_mmio count=\d+$", "virtio_mmio count=<n>", body)
        if body.startswith("cmdline="):
            body = re.sub(r" virtio_mmio\.device=\S+", "", body)
        out.append(body + cr)
    return "\n".join(out)


def run_session(vm):
    """Boots vm (console on stdio: nothing is lost, no pokes), runs SESSION, quits
    it; returns the whole console transcript from the first byte."""
    vm.launch()
    vm.console.wait_prompt(poke_interval=None)
    for cmd in SESSION:
        vm.run(cmd, timeout=SESSION_CMD_TIMEOUT)
    vm.console.drain(0.2)
    text = vm.console.transcript
    assert vm.quit() == 0
    return text


def session_vm(make_vm, tmp_path, **kw):
    initrd = tmp_path / "session-initrd.bin"
    if not initrd.exists():
        initrd.write_bytes(SESSION_INITRD)
    kw.setdefault("mem", SESSION_MEM)
    return make_vm(smp=SESSION_SMP, append=SESSION_APPEND, initrd=initrd, console="stdio", **kw)


def diff(a, b, na, nb):
    return "\n".join(difflib.unified_diff(a.split("\n"), b.split("\n"), na, nb, lineterm=""))


@pytest.mark.test_timeout(300)
def test_session_transcript_matches_qemu(make_vm, qemu_bin, tmp_path, accel):
    stratus = run_session(session_vm(make_vm, tmp_path, name="stratus"))
    qemu = run_session(session_vm(make_vm, tmp_path, cls=QemuVm, binary=qemu_bin,
                                  mem=SESSION_MEM.rstrip("M"), name="qemu"))
    # the session really ran (a transcript of failures would compare equal too)
    assert "text=bye\r\nstatus=ok\r\n" in stratus, stratus
    assert "checked=1048576 mismatches=0 first_bad=none\r\nstatus=ok" in stratus, stratus
    a, b = normalise(stratus), normalise(qemu)
    assert a == b, "Stratus (-accel %s) and QEMU (-accel %s) transcripts differ " \
        "(after normalise()):\n%s" % (accel, QEMU_ACCEL[accel],
                                      diff(b, a, "qemu", "stratus"))
    if accel == "emu" and kvm_usable():
        on_kvm = run_session(session_vm(make_vm, tmp_path, accel="kvm", name="stratus-kvm"))
        assert stratus == on_kvm, "Stratus's transcripts on emu and on kvm differ:\n%s" % \
            diff(on_kvm, stratus, "kvm", "emu")


def test_normalise_touches_only_vmm_differences():
    """normalise() is not vacuous: what it leaves must still be compared."""
    stratus = ("stratus-testguest version=1 entry=64\r\nguest# info\r\n"
               "e820 index=0 base=0x0 size=0x9fc00 type=1\r\n"
               "e820 index=1 base=0x9fc00 size=0x400 type=2\r\n"
               "e820 index=2 base=0xf0000 size=0x10000 type=2\r\n"
               "virtio_mmio count=1\r\n"
               "virtio_mmio index=0 base=0xfeb00000 size=512 irq=5 magic_ok=1 version=2 "
               "device_id=2\r\n"
               "cmdline=console=ttyS0 virtio_mmio.device=512@0xfeb00000:5\r\nstatus=ok\r\n")
    qemu = ("stratus-testguest version=1 entry=16\r\nguest# info\r\n"
            "e820 index=0 base=0x0 size=0x9fc00 type=1\r\n"
            "e820 index=1 base=0x9fc00 size=0x400 type=2\r\n"
            "e820 index=2 base=0xd0000 size=0x20000 type=4\r\n"
            "e820 index=3 base=0xf0000 size=0x10000 type=2\r\n"
            "virtio_mmio count=0\r\n"
            "cmdline=console=ttyS0\r\nstatus=ok\r\n")
    assert normalise(stratus) == normalise(qemu)
    for a, b in [("size=0x9fc00 type=1", "size=0x9f000 type=1"),     # RAM entry
                 ("base=0x9fc00 size=0x400", "base=0x9f800 size=0x800"),  # EBDA
                 ("base=0xf0000 size=0x10000 type=2", "base=0xf0000 size=0x10000 type=1"),
                 ("cmdline=console=ttyS0 ", "cmdline=console=ttyS1 "),
                 ("guest# info\r\n", "guest# info\n"),                # line ends
                 ("status=ok", "status=error")]:
        assert normalise(stratus.replace(a, b)) != normalise(qemu), (a, b)
