"""virtio-balloon end to end (src/hw/virtio/virtio-balloon.c, docs/devices-balloon.md,
docs/qmp.md "Balloon"): QMP against the test guest's balloon driver, which
follows the host's target by itself (docs/guest-shell.md "Balloon").

* The seeds' exchange on a real guest: `balloon` to half, the guest inflates,
  BALLOON_CHANGED {"actual": half} (exact wire form), `query-balloon` reports
  it; back to all of RAM, the guest deflates, another event.
* Inflated pages really go back to the host: after the guest touched its
  memory, the VMM's VmRSS drops by at least 80% of the ballooned amount, the
  guest reads zeros there (`mem check`), and after deflating and touching the
  memory again VmRSS grows back.
* A device reset (the guest's `balloon init`) empties the balloon
  (BALLOON_CHANGED back to all of RAM) and the new driver inflates again.
* deflate-on-oom and free-page-reporting are offered and negotiated; a free-page
  report gives the host the memory back too.
* Errors: no device (DeviceNotActive), a target of zero or less, two balloon
  devices, bad property values, device_add.
"""

import re

import pytest

from stratus_vm import parse_info
from test_cmdline import argv_of, base_opts, check_error_exit

MIB = 1 << 20
RAM = 256 * MIB
PAGE = 4096
# The window after the 6 block and 2 net slots (docs/microvm.md).
WINDOW = 0xF0101000
GSI = 13
WIRE = r'^\{"event":"BALLOON_CHANGED","data":\{"actual":%d\},' \
       r'"timestamp":\{"seconds":\d+,"microseconds":\d+\}\}$'


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def balloon_vm(make_vm, props=""):
    vm = make_vm(extra_args=["-device", "virtio-balloon-device,id=bal0" + props])
    vm.boot()
    return vm


def guest_balloon(vm, args=""):
    """The guest's `balloon` line as a dict."""
    r = ok(vm.run(("balloon " + args).strip()))
    tag, kv = r.records[-1]
    assert tag == "balloon", r
    return kv


def vm_rss_kib(vm):
    with open("/proc/%d/status" % vm.pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    assert m
    return int(m.group(1))


def top_of_ram_free(vm):
    """(base, top) of the highest ram_free range: where the balloon takes pages."""
    r = parse_info(ok(vm.run("info")))["ram_free"][-1]
    return r["base"], r["base"] + r["size"]


def balloon_to(vm, value, actual, timeout=60):
    """QMP balloon, then the guest's one BALLOON_CHANGED with `actual` in its
    exact wire form (the guest writes actual once, at the target)."""
    assert vm.qmp.cmd("balloon", value=value) == {}
    ev = vm.qmp.wait_event("BALLOON_CHANGED", timeout=timeout)
    assert ev["data"] == {"actual": actual}, ev
    raw = [t for d, t in vm.qmp.transcript if d == "<" and '"BALLOON_CHANGED"' in t][-1]
    assert re.match(WIRE % actual, raw), raw
    assert vm.qmp.cmd("query-balloon") == {"actual": actual}


def no_more_events(vm):
    vm.qmp.cmd("query-status")
    assert not [e for e in vm.qmp.events if e["event"] == "BALLOON_CHANGED"], vm.qmp.events


def test_window(make_vm):
    """The guest finds the device on the first window after the slots."""
    vm = balloon_vm(make_vm)
    info = parse_info(ok(vm.run("info")))
    ent = [e for e in info["virtio_mmio"] if e["device_id"] == "5"]
    assert len(ent) == 1, info["virtio_mmio"]
    assert (int(ent[0]["index"]), int(ent[0]["base"], 16), int(ent[0]["irq"])) == (8, WINDOW, GSI)
    assert "virtio_mmio.device=512@0x%08x:%d" % (WINDOW, GSI) in info["cmdline"]
    kv = guest_balloon(vm)
    assert (int(kv["base"], 16), kv["irq"], kv["state"]) == (WINDOW, str(GSI), "ok")
    assert (kv["pages"], kv["target"], kv["actual"], kv["stats"]) == ("0", "0", "0", "1")
    # the device never returned the stats buffer: nothing asks for statistics
    assert kv["stats_requests"] == "0"
    assert vm.qmp.cmd("query-balloon") == {"actual": RAM}


def test_balloon_half_rss(make_vm):
    """The seeds' exchange (balloon to half, query-balloon reports it) with the
    host side of it: RSS drops by what was ballooned, and grows back."""
    vm = balloon_vm(make_vm)
    base, top = top_of_ram_free(vm)
    half = RAM // 2
    fill = min(top - base, half + 32 * MIB)
    ok(vm.run("mem fill 0x%x 0x%x 1" % (top - fill, fill), timeout=120))
    touched = vm_rss_kib(vm)

    balloon_to(vm, half, half)
    kv = guest_balloon(vm)
    assert (kv["pages"], kv["target"], kv["actual"]) == (str(half // PAGE),) * 3, kv
    ballooned = vm_rss_kib(vm)
    print("VmRSS %d KiB touched, %d KiB after ballooning %d MiB"
          % (touched, ballooned, half // MIB))
    assert touched - ballooned >= 0.8 * half / 1024
    # the pages are the host's now: the guest reads zeros there ...
    r = vm.run("mem check 0x%x 0x%x 1" % (top - half, MIB))
    assert r.msg == "mismatch" and r.get("mismatches") == str(MIB // 8), r
    # ... and nothing below the balloon was touched
    ok(vm.run("mem check 0x%x 0x%x 1" % (top - fill, fill - half), timeout=60))

    balloon_to(vm, RAM, RAM)
    kv = guest_balloon(vm)
    assert (kv["pages"], kv["actual"], kv["inflated"], kv["deflated"]) == \
        ("0", "0", str(half // PAGE), str(half // PAGE)), kv
    ok(vm.run("mem fill 0x%x 0x%x 2" % (top - half, half), timeout=120))
    refilled = vm_rss_kib(vm)
    print("VmRSS %d KiB after deflating and touching the memory again" % refilled)
    assert refilled - ballooned >= 0.8 * half / 1024
    ok(vm.run("mem check 0x%x 0x%x 2" % (top - half, half), timeout=120))
    no_more_events(vm)


def test_targets_and_events(make_vm):
    """Each target the guest reaches is one event; more than RAM is all of it;
    a target beyond what the guest can give stops at ram_free."""
    vm = balloon_vm(make_vm)
    balloon_to(vm, 200 * MIB, 200 * MIB)
    balloon_to(vm, 100 * MIB, 100 * MIB)
    balloon_to(vm, 4 * RAM, RAM)
    kv = guest_balloon(vm)
    assert kv["pages"] == "0" and kv["target"] == "0", kv
    # 1 byte: the guest gives everything it can (ram_free), and says so
    cap = int(kv["capacity"])
    balloon_to(vm, 1, RAM - cap * PAGE)
    kv = guest_balloon(vm)
    assert (kv["pages"], kv["target"]) == (str(cap), str(RAM // PAGE - 1)), kv
    assert vm.qmp.cmd("query-balloon") == {"actual": RAM - cap * PAGE}
    balloon_to(vm, RAM, RAM)
    no_more_events(vm)


def test_guest_reset_and_auto_off(make_vm):
    """With `balloon auto off` the guest stays put until `balloon poll`.
    `balloon init` resets the device: the balloon is empty (an event says so)
    and the target stays for the new driver. (Changes within a second are
    reported once, at its end, and only if the value differs from the last
    event's: with the guest following at once, a reset would not show.)"""
    vm = balloon_vm(make_vm)
    balloon_to(vm, 192 * MIB, 192 * MIB)
    guest_balloon(vm, "auto off")
    assert vm.qmp.cmd("balloon", value=128 * MIB) == {}
    ok(vm.run("echo still"))
    assert vm.qmp.cmd("query-balloon") == {"actual": 192 * MIB}
    kv = guest_balloon(vm, "poll")
    assert (kv["pages"], kv["actual"], kv["auto"]) == (str(32768), str(32768), "0"), kv
    ev = vm.qmp.wait_event("BALLOON_CHANGED", timeout=30)
    assert ev["data"] == {"actual": 128 * MIB}, ev

    kv = guest_balloon(vm, "init")
    assert (kv["pages"], kv["target"], kv["state"]) == ("0", "32768", "ok"), kv
    ev = vm.qmp.wait_event("BALLOON_CHANGED", timeout=30)
    assert ev["data"] == {"actual": RAM}, ev
    assert vm.qmp.cmd("query-balloon") == {"actual": RAM}
    guest_balloon(vm, "auto on")
    ev = vm.qmp.wait_event("BALLOON_CHANGED", timeout=30)
    assert ev["data"] == {"actual": 128 * MIB}, ev
    no_more_events(vm)


@pytest.mark.parametrize("on", [True, False], ids=["on", "off"])
def test_deflate_on_oom(make_vm, on):
    """deflate-on-oom is offered and negotiated when on; ballooning works either way."""
    vm = balloon_vm(make_vm, ",deflate-on-oom=%s" % ("on" if on else "off"))
    kv = guest_balloon(vm)
    assert bool(int(kv["offered"], 16) & (1 << 2)) == on, kv
    assert kv["deflate_on_oom"] == ("1" if on else "0"), kv
    balloon_to(vm, RAM // 2, RAM // 2)
    balloon_to(vm, RAM, RAM)


def test_free_page_reporting(make_vm):
    """A reported free range leaves the VMM's memory; reporting is not
    ballooning (query-balloon unchanged)."""
    vm = balloon_vm(make_vm, ",free-page-reporting=on")
    kv = guest_balloon(vm)
    assert kv["reporting"] == "1" and int(kv["offered"], 16) & (1 << 5), kv
    base, top = top_of_ram_free(vm)
    size = 64 * MIB
    ok(vm.run("mem fill 0x%x 0x%x 3" % (top - size, size), timeout=120))
    touched = vm_rss_kib(vm)
    r = ok(vm.run("balloon report 0x%x 0x%x" % (top - size, size)))
    assert r.get("reported") == str(size) and r.get("chunks") == "1", r
    reported = vm_rss_kib(vm)
    print("VmRSS %d KiB touched, %d KiB after reporting %d MiB"
          % (touched, reported, size // MIB))
    assert touched - reported >= 0.8 * size / 1024
    r = vm.run("mem check 0x%x 0x%x 3" % (top - size, MIB))
    assert r.msg == "mismatch", r
    assert vm.qmp.cmd("query-balloon") == {"actual": RAM}
    # everything the balloon does not hold
    r = ok(vm.run("balloon report"))
    assert int(r.get("reported")) == int(kv["capacity"]) * PAGE, r
    assert vm.run("balloon report 0x%x 0x%x" % (top - size, 100)).msg == "unaligned"
    assert vm.run("balloon report 0x1000 0x1000").msg == "not-in-ram-free"
    no_more_events(vm)


def test_reporting_off(make_vm):
    vm = balloon_vm(make_vm)
    assert vm.run("balloon report").msg == "unsupp"


def test_no_device(booted_vm):
    vm = booted_vm
    for cmd, args in (("query-balloon", None), ("balloon", {"value": RAM // 2})):
        resp = vm.qmp.execute(cmd, args)
        assert resp == {"error": {"class": "DeviceNotActive",
                                  "desc": "No balloon device has been activated"}}, resp
    assert vm.run("balloon").msg == "nodev"


def test_bad_values(make_vm):
    vm = balloon_vm(make_vm)
    for value in (0, -1, -RAM):
        resp = vm.qmp.execute("balloon", {"value": value})
        assert resp == {"error": {"class": "GenericError",
                                  "desc": "Parameter 'value' expects a size"}}, resp
    resp = vm.qmp.execute("balloon", {"value": "128M"})
    assert resp["error"]["desc"] == "Invalid parameter type for 'value', expected: integer"
    resp = vm.qmp.execute("balloon", {})
    assert resp["error"]["desc"] == "Parameter 'value' is missing"
    resp = vm.qmp.execute("device_add", {"driver": "virtio-balloon-device", "id": "b2"})
    assert resp["error"]["desc"] == "Unsupported replaceable device type.", resp
    assert vm.qmp.cmd("query-balloon") == {"actual": RAM}
    no_more_events(vm)


@pytest.mark.parametrize("tail,words", [
    (["-device", "virtio-balloon-device", "-device", "virtio-balloon-device,id=b2"],
     ["Only one balloon device is supported for each vm."]),
    (["-device", "virtio-balloon-device,deflate-on-oom=maybe"],
     ["Parameter 'deflate-on-oom' expects 'on' or 'off'"]),
    (["-device", "virtio-balloon-device,free-page-reporting=1"],
     ["Parameter 'free-page-reporting' expects 'on' or 'off'"]),
    (["-device", "virtio-balloon-device,guest-stats-polling-interval=2"],
     ["Property 'virtio-balloon-device.guest-stats-polling-interval' not found"]),
    (["-device", "virtio-balloon-device,id=b,addr=0x1"],
     ["Invalid addr for device b: virtio-balloon-device is not a replaceable device"]),
], ids=["two", "deflate-on-oom", "free-page-reporting", "unknown", "addr"])
def test_cmdline_errors(stratus, bzimage, tmp_path, tail, words):
    argv = [str(stratus)] + argv_of(base_opts(), tail,
                                    {"KERNEL": str(bzimage), "SOCK": str(tmp_path)})
    check_error_exit(argv, words)
