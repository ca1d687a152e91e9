"""pvpanic end to end (src/hw/misc/pvpanic.c, docs/devices.md): the test guest's
`panic` command (docs/guest-shell.md) against `-device pvpanic`.

* `panic probe` reads the event mask; `panic` (bit 0) -> GUEST_PANICKED
  {"action":"pause"}, STOP, query-status guest-panicked, and `cont` lets the
  guest finish the command; `panic crash` (bit 1) -> GUEST_CRASHLOADED
  {"action":"run"} and the shell keeps answering.  The events are checked in
  their exact wire form (the golden runner cannot make the guest write the port,
  so this exchange is asserted here instead of in golden/).
* `events=` masks what the guest can report; without the device the port is
  empty (reads 0xff) and nothing happens.
* The same guest session on QEMU (`-device pvpanic -action panic=pause`) gives
  the same console lines and the same events.
* Bad `-device pvpanic,...` options exit 1 with one `stratus: error:` line.
"""

import json
import re
import shutil

import pytest

from stratus_vm import PROMPT, QemuVm, Reply, short_tmpdir
from test_cmdline import argv_of, base_opts, check_error_exit

PVPANIC = ["-device", "pvpanic"]
# Stratus's event wire form (src/qmp/qmp-events.c): event, data, timestamp.
WIRE = r'\{"event":"%s","data":%s,"timestamp":\{"seconds":\d+,"microseconds":\d+\}\}'


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def wire_line(vm, name):
    """The raw QMP line that carried event `name` (the last one)."""
    lines = [t for d, t in vm.qmp.transcript if d == "<" and '"event":"%s"' % name in t]
    assert lines, "no %s on the wire" % name
    return lines[-1]


def event_names(vm):
    return [json.loads(t)["event"] for d, t in vm.qmp.transcript
            if d == "<" and t.startswith("{") and '"event"' in t]


def status(vm):
    return vm.qmp.cmd("query-status")


def panic_and_cont(vm):
    """`panic` in the guest; returns (its Reply, the GUEST_PANICKED event, the
    query-status answer while panicked)."""
    vm.console.write("panic\n")
    ev = vm.qmp.wait_event("GUEST_PANICKED")
    vm.qmp.wait_event("STOP")
    st = status(vm)
    resp = vm.qmp.execute("cont")
    assert resp == {"return": {}}, resp
    vm.qmp.wait_event("RESUME")
    return finish(vm, "panic"), ev, st


def finish(vm, cmd):
    """The Reply of a command already typed (after its echo)."""
    raw = vm.console.read_until(r"status=[^\r\n]*\r\n" + re.escape(PROMPT))
    lines = raw[:-len(PROMPT)].split("\r\n")[:-1]
    echo = [i for i, l in enumerate(lines) if l.strip() == cmd]
    assert echo, "no echo of %r in %r" % (cmd, raw)
    return Reply(cmd, lines[echo[0] + 1:-1], lines[-1], raw)


# ---------------------------------------------------------------------------

def test_pvpanic_probe(make_vm):
    vm = make_vm(extra_args=PVPANIC)
    vm.boot()
    r = ok(vm.run("panic probe"))
    assert r.lines == ["events=3"], r


def test_pvpanic_panicked_pauses(make_vm):
    vm = make_vm(extra_args=PVPANIC)
    vm.boot()
    r, ev, st = panic_and_cont(vm)
    assert ok(r).lines == ["panic=panicked value=1"], r
    assert ev["data"] == {"action": "pause"}, ev
    assert re.fullmatch(WIRE % ("GUEST_PANICKED", re.escape('{"action":"pause"}')),
                        wire_line(vm, "GUEST_PANICKED")), wire_line(vm, "GUEST_PANICKED")
    assert (st["status"], st["running"]) == ("guest-panicked", False), st
    # GUEST_PANICKED first, then the pause's STOP, then cont's RESUME (QEMU's order)
    names = event_names(vm)
    i = names.index("GUEST_PANICKED")
    assert names[i:i + 3] == ["GUEST_PANICKED", "STOP", "RESUME"], names
    assert status(vm)["running"] is True
    assert ok(vm.run("echo alive")).lines == ["text=alive"]


def test_pvpanic_crash_loaded_runs(make_vm):
    vm = make_vm(extra_args=PVPANIC)
    vm.boot()
    r = ok(vm.run("panic crash"))
    assert r.lines == ["panic=crash-loaded value=2"], r
    ev = vm.qmp.wait_event("GUEST_CRASHLOADED")
    assert ev["data"] == {"action": "run"}, ev
    assert re.fullmatch(WIRE % ("GUEST_CRASHLOADED", re.escape('{"action":"run"}')),
                        wire_line(vm, "GUEST_CRASHLOADED")), wire_line(vm, "GUEST_CRASHLOADED")
    st = status(vm)
    assert (st["status"], st["running"]) == ("running", True), st
    assert "STOP" not in event_names(vm)
    assert ok(vm.run("echo alive")).lines == ["text=alive"]


def test_pvpanic_events_mask(make_vm):
    vm = make_vm(extra_args=["-device", "pvpanic,events=1"])
    vm.boot()
    assert ok(vm.run("panic probe")).lines == ["events=1"]
    ok(vm.run("panic crash"))                      # not enabled: ignored
    assert status(vm)["running"] is True
    assert "GUEST_CRASHLOADED" not in event_names(vm)
    r, ev, st = panic_and_cont(vm)                 # still reports what it may
    assert ok(r).lines == ["panic=panicked value=1"]
    assert st["status"] == "guest-panicked", st


def test_pvpanic_ioport(make_vm):
    vm = make_vm(extra_args=["-device", "pvpanic,ioport=0x506"])
    vm.boot()
    # the guest only knows 0x505: nothing there now
    assert ok(vm.run("panic probe")).lines == ["events=255"]
    ok(vm.run("panic"))
    assert status(vm)["running"] is True
    assert "GUEST_PANICKED" not in event_names(vm)


def test_pvpanic_absent(booted_vm):
    vm = booted_vm
    assert ok(vm.run("panic probe")).lines == ["events=255"]
    ok(vm.run("panic"))
    ok(vm.run("panic crash"))
    assert status(vm)["running"] is True
    assert not {"GUEST_PANICKED", "GUEST_CRASHLOADED", "STOP"} & set(event_names(vm))


@pytest.mark.parametrize("cmd", ["panic nope", "panic crash x", "panic probe 1", "panic 1"])
def test_pvpanic_bad_arguments(booted_vm, cmd):
    r = booted_vm.run(cmd)
    assert r.status == "error" and r.msg == "bad-arguments" and r.lines == [], r


def session(vm):
    """What a pvpanic session looks like from the console and the monitor."""
    vm.boot()
    out = [vm.run("panic probe").lines, vm.run("panic crash").lines]
    crash = vm.qmp.wait_event("GUEST_CRASHLOADED")
    r, ev, st = panic_and_cont(vm)
    out.append(r.lines + [r.status_line])
    evs = [(e["event"], e.get("data", {})) for e in (crash, ev)]
    return out, evs, (st["status"], st["running"])


@pytest.mark.qemu
def test_pvpanic_matches_qemu(make_vm, qemu_bin):
    got = {}
    for name, kw in (("stratus", {"extra_args": PVPANIC}),
                     ("qemu", {"cls": QemuVm, "binary": qemu_bin, "mem": "256",
                               "extra_args": PVPANIC + ["-action", "panic=pause"]})):
        vm = make_vm(name=name, **kw)
        got[name] = session(vm)
        assert vm.quit() == 0
    assert got["stratus"] == got["qemu"]
    assert got["stratus"][1] == [("GUEST_CRASHLOADED", {"action": "run"}),
                                 ("GUEST_PANICKED", {"action": "pause"})]
    assert got["stratus"][2] == ("guest-panicked", False)


# ---------------------------------------------------------------------------
# command line: exit 1 and one `stratus: error: ...` line

BAD_DEVICE = [
    ("events-9", ["pvpanic,events=9"],
     "Property pvpanic.events doesn't take value 9 (minimum: 0, maximum: 3)"),
    ("events-256", ["pvpanic,events=256"], "Parameter 'events' expects uint8_t"),
    ("ioport-zz", ["pvpanic,ioport=zz"], "Parameter 'ioport' expects integer"),
    ("ioport-70000", ["pvpanic,ioport=70000"], "Parameter 'ioport' expects uint16_t"),
    ("unknown-property", ["pvpanic,nope=1"], "Property 'pvpanic.nope' not found"),
    ("same-port", ["pvpanic", "pvpanic"], "pvpanic: ioport 0x505 already in use"),
    ("same-port-moved", ["pvpanic,ioport=0x510", "pvpanic,ioport=0x510"],
     "pvpanic: ioport 0x510 already in use"),
    ("com1-port", ["pvpanic,ioport=0x3f8"], "pvpanic: ioport 0x3f8 already in use"),
]


@pytest.mark.parametrize("case_id,devices,text", BAD_DEVICE, ids=[c[0] for c in BAD_DEVICE])
def test_pvpanic_bad_option(stratus, bzimage, case_id, devices, text):
    sock = short_tmpdir()
    try:
        tail = [a for d in devices for a in ("-device", d)] + ["-accel", "emu"]
        argv = [str(stratus)] + argv_of(base_opts(), tail, {"KERNEL": str(bzimage),
                                                            "SOCK": sock})
        check_error_exit(argv, [text])
    finally:
        shutil.rmtree(sock, ignore_errors=True)
