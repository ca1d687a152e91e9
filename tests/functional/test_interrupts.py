"""The test guest taking interrupts and exceptions (`intr`, `smp xadd`;
docs/guest-shell.md) instead of polling with IF=0.

emu only: every test pins `accel` to emu.  On the nested KVM hosts the project
runs on, an interrupt delivered to the guest (or a software `int`) kills it,
which is why the guest never takes one elsewhere; Stratus's software CPU and
QEMU's tcg deliver them.

* LAPIC timer (periodic, IST stack), fixed IPIs to every AP, #UD and #BP taken
  at CPL3 and returned from, COM1 received-data and virtio-blk completion
  interrupts through the IOAPIC;
* two (and three) vCPUs incrementing one counter with `lock xadd`;
* test_intr_matches_qemu_tcg: `intr fault`, `intr ipi` and `smp xadd` print the
  same lines on QEMU -accel tcg (an independent implementation of the same
  delivery rules).
"""

import os
import re
import shutil
import tempfile
import time
import zlib
from pathlib import Path

import pytest

from stratus_vm import PROMPT, QemuVm, Reply

pytestmark = pytest.mark.parametrize("accel", ["emu"])

FAULT_LINES = ["fault=ud handled=1 from_cpl=3 rip_ok=1 resumed=1",
               "fault=bp handled=1 from_cpl=3 rip_ok=1 resumed=1"]
XADD_N = 10_000_000
XADD_TIMEOUT = 120


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def still_polling(vm):
    """After a command the shell is back at IF=0 and answers as before."""
    r = ok(vm.run("echo after"))
    assert r.lines == ["text=after"], r


@pytest.fixture
def imgdir():
    # not /tmp: it may be a tmpfs, where O_DIRECT fails (as in test_block.py)
    d = tempfile.mkdtemp(prefix="stratus-intr-", dir=os.environ.get("STRATUS_IMG_DIR", "/var/tmp"))
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------

def test_intr_fault(booted_vm):
    r = ok(booted_vm.run("intr fault"))
    assert r.lines == FAULT_LINES, r
    # the fatal fault_report gates are back: run it again, same answer
    r = ok(booted_vm.run("intr fault"))
    assert r.lines == FAULT_LINES, r
    still_polling(booted_vm)


def test_intr_timer(booted_vm):
    r = ok(booted_vm.run("intr timer 100 500"))
    kv = r.records[0][1]
    ticks = int(kv["ticks"])
    assert int(kv["expected"]) == 50, r
    # emu's LAPIC timer and its TSC (the guest's 500 ms delay) both count host
    # CLOCK_MONOTONIC nanoseconds, and the timer is polled every 1024
    # instructions (microseconds), far below the 10 ms period.  The timer is
    # programmed just before the window opens, so its 50th tick falls inside the
    # window and a 51st cannot: more than 50 would be a timer running fast.
    # Fewer happen when the host does not run the vCPU thread: periods it
    # sleeps through are delivered as one interrupt (emu-lapic-timer.c, like a
    # late hrtimer).  How many is host load (an ASan build on a busy 2-core CI
    # machine got under 40), not the device, so the floor only proves the
    # timer re-arms itself; the rate is scripts/bench's business.
    assert 2 <= ticks <= 50, r
    # every tick interrupted the CPL3 delay loop and ran on the IST1 stack
    assert kv["ist"] == kv["ticks"] and kv["cpl3"] == kv["ticks"], r
    still_polling(booted_vm)


@pytest.mark.parametrize("smp", [2, 4])
def test_intr_ipi(make_vm, smp):
    vm = make_vm(smp=smp)
    vm.boot()
    assert vm.info()["online"] == smp
    for _ in range(2):   # the APs turn IF off again in between
        r = ok(vm.run("intr ipi", timeout=60))
        assert r.lines == ["ipi_sent=%d ipi_received=%d" % (smp - 1, smp - 1)], r
    still_polling(vm)


def test_intr_ipi_needs_aps(booted_vm):
    r = booted_vm.run("intr ipi")
    assert r.status == "error" and r.msg == "no-aps" and r.lines == [], r


def run_typing(vm, cmd, text, timeout=30):
    """Sends cmd, waits for the guest's `serial=ready` line, types text and a
    line end; returns the Reply (the ready line is not in .lines)."""
    c = vm.console
    c.write(cmd + "\n")
    c.read_until(r"serial=ready\r\n", timeout)
    c.write(text + "\r")
    raw = c.read_until(r"status=[^\r\n]*\r\n" + re.escape(PROMPT), timeout)
    lines = raw[:-len(PROMPT)].split("\r\n")[:-1]
    return Reply(cmd, lines[:-1], lines[-1], raw)


def test_intr_serial(booted_vm):
    text = "typed at IF=1, 0123456789 %s ~!"
    r = ok(run_typing(booted_vm, "intr serial 10000", text))
    kv = r.records[0][1]
    assert kv["text"] == text, r
    # Stratus's UART raises one interrupt per chunk the chardev delivers
    # (usually the whole line); one per byte at most
    assert 1 <= int(kv["rx_irqs"]) <= len(text) + 1, r
    # the handler consumed the input: none of it reaches the shell
    assert booted_vm.console.expect_silence(0.3) == ""
    still_polling(booted_vm)


def test_intr_serial_timeout(booted_vm):
    r = booted_vm.run("intr serial 200")
    assert r.status == "error" and r.msg == "timeout", r
    assert r.lines == ["serial=ready", "rx_irqs=0 text="], r
    still_polling(booted_vm)


def test_intr_blk(make_vm, imgdir):
    img = imgdir / "disk.img"
    data = os.urandom(1 << 20)
    img.write_bytes(data)
    vm = make_vm(extra_args=["-drive", "id=d0,file=%s" % img,
                             "-device", "virtio-blk-device,drive=d0,id=disk0"])
    vm.boot()
    crc = "0x%08x" % zlib.crc32(data[:512])
    for _ in range(2):
        r = ok(vm.run("intr blk", timeout=30))
        kv = r.records[0][1]
        assert int(kv["blk_irqs"]) >= 1 and kv["isr_used"] == "1", r
        assert (kv["sectors"], kv["bytes"], kv["crc32"]) == ("1", "512", crc), r
    # the polled driver still works afterwards, on the same data
    r = ok(vm.run("blk read 0 0 1"))
    assert r.get("crc32") == crc, r
    still_polling(vm)


def test_intr_blk_no_disk(booted_vm):
    r = booted_vm.run("intr blk")
    assert r.status == "error" and r.msg == "nodev", r


@pytest.mark.parametrize("cmd", ["intr", "intr nope", "intr timer", "intr timer 100",
                                 "intr timer 0 500", "intr timer 100 0", "intr timer 100 500 x",
                                 "intr serial", "intr fault x", "smp", "smp xadd",
                                 "smp xadd 0", "smp xadd 1x", "smp nope 5",
                                 "smp churn", "smp churn 0 0x1000000 8 1", "smp churn 1",
                                 "smp churn 1 0x1000000 8"])
def test_intr_bad_arguments(booted_vm, cmd):
    r = booted_vm.run(cmd)
    assert r.status == "error" and r.msg == "bad-arguments" and r.lines == [], r


@pytest.mark.parametrize("smp,n", [(2, XADD_N), (3, 1_000_000)])
def test_smp_xadd(make_vm, smp, n):
    vm = make_vm(smp=smp)
    vm.boot()
    t = time.monotonic()
    r = ok(vm.run("smp xadd %d" % n, timeout=XADD_TIMEOUT))
    print("smp xadd %d on %d vCPUs: %.2f s" % (n, smp, time.monotonic() - t))
    assert r.lines == ["counter=%d expected=%d cpus=%d" % (smp * n, smp * n, smp)], r
    still_polling(vm)


@pytest.mark.qemu
@pytest.mark.test_timeout(300)
def test_intr_matches_qemu_tcg(make_vm, qemu_bin):
    cmds = ["intr fault", "intr ipi", "smp xadd 1000000"]
    out = {}
    for name, kw in (("stratus", {}), ("qemu", {"cls": QemuVm, "binary": qemu_bin,
                                                "mem": "256"})):
        vm = make_vm(smp=2, name=name, **kw)
        vm.boot()
        out[name] = [(r.lines, r.status_line)
                     for r in (vm.run(c, timeout=XADD_TIMEOUT) for c in cmds)]
        assert vm.quit() == 0
    assert out["stratus"] == out["qemu"]
    assert out["stratus"][0] == (FAULT_LINES, "status=ok")


def irq_counts(vm):
    text = vm.qmp.cmd("x-query-irq")["human-readable-text"]
    lines = text.splitlines()
    assert lines[0] == "IRQ statistics for ioapic:", text
    return {int(k): int(v) for k, v in (l.split(":") for l in lines[1:]
                                        if not l.startswith("ioeventfd signals:"))}


def ioeventfd_signals(vm):
    """Guest writes the emu accelerator turned into ioeventfd signals (x-query-irq's
    last line, docs/qmp.md); 0 while there were none."""
    text = vm.qmp.cmd("x-query-irq")["human-readable-text"]
    for line in text.splitlines():
        if line.startswith("ioeventfd signals: "):
            return int(line.split(": ", 1)[1])
    return 0


def on_emu(vm):
    """The VM runs on the software CPU (whose ioeventfds x-query-irq counts)."""
    return not vm.qmp.cmd("query-kvm")["enabled"]


def test_x_query_irq_counts_device_interrupts(make_vm, imgdir):
    """x-query-irq (docs/qmp.md): the interrupts virtio-blk raised on its pin
    (slot 0: GSI 5) are counted, at least as many as the guest took."""
    img = imgdir / "disk.img"
    img.write_bytes(bytes(1 << 20))
    vm = make_vm(extra_args=["-drive", "id=d0,file=%s" % img,
                             "-device", "virtio-blk-device,drive=d0,id=disk0"])
    vm.boot()
    before = irq_counts(vm).get(5, 0)
    r = ok(vm.run("intr blk", timeout=30))
    taken = int(r.records[0][1]["blk_irqs"])
    after = irq_counts(vm).get(5, 0)
    assert taken >= 1 and after - before >= taken, (before, after, r)
    assert set(irq_counts(vm)) <= set(range(24))
