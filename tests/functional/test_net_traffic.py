"""virtio-net traffic on real kernel objects (src/hw/virtio/virtio-net.c, src/net/tap.c,
docs/net.md): every test makes its own network namespace (netns.py) holding a bridge
br0 (10.0.2.2/24) and the taps, and either runs the VMM inside it (`ip netns exec`,
the VMM opens the tap by name) or hands the VMM a tap fd over SCM_RIGHTS (`getfd`).
The test guest (docs/guest-shell.md "Network") has 10.0.2.15 on eth0 and 10.0.2.16
on eth1; the host side pings it and exchanges UDP with it, and the counts of both
sides must agree.

* ping + UDP echo + guest-sent UDP on a -netdev/-device NIC;
* the seeds' hot-plug (netdev_add by ifname, device_add addr 0x0 then 0x1), traffic
  on each, device_del while a flood is flowing (DEVICE_DELETED, the tap released by
  netdev_del), re-plug: 20 cycles;
* getfd of a tap fd over SCM_RIGHTS, then netdev_add fd=<name>;
* set_link down/up seen by the guest (STATUS) and by the traffic;
* no descriptor leak over 100 add/del cycles (/proc/<pid>/fd);
* the seeds' NIC golden transcripts replayed on a VM in a namespace, then checked
  from the guest (link state, ping).
"""

import os
import socket
import time

import pytest

import netns
from netns import Flood, GUEST_IPS, HOST_IP, drain
from stratus_vm import Vm
from test_golden import GOLDEN_DIR, Golden, GoldenVm, run_golden
from test_interrupts import ioeventfd_signals, on_emu

CYCLES = 20
LEAK_CYCLES = 100


@pytest.fixture
def ns():
    yield from netns.namespace()


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def kv(reply, tag):
    """The key=value pairs of the reply's first line starting with `tag`."""
    for t, d in reply.records:
        if t == tag:
            return d
    raise AssertionError("no %r line in %r" % (tag, reply))


def stat(vm, dev=0):
    d = kv(ok(vm.run("net eth%d stat" % dev)), "stat")
    return {k: int(v) for k, v in d.items() if k != "index"}


def link(vm, dev=0):
    return kv(ok(vm.run("net eth%d link" % dev)), "net")


def boot_in(ns, make_vm, extra=(), **kw):
    vm = make_vm(cls=ns.vm_class(Vm), extra_args=list(extra), **kw)
    vm.boot()
    return vm


def set_ips(vm, devs=(0,)):
    for d in devs:
        assert kv(ok(vm.run("net eth%d ip %s/24" % (d, GUEST_IPS[d]))), "net")["ip"] == \
            GUEST_IPS[d] + "/24"


def check_traffic(ns, vm, dev, pings=3, echoes=10, sends=50):
    """Ping, UDP echo and guest-sent UDP on eth<dev>; both sides' counts agree."""
    before = stat(vm, dev)
    assert ns.ping(GUEST_IPS[dev], pings) == pings
    assert ns.udp_echo(GUEST_IPS[dev], echoes, size=300) == echoes
    port = 40000 + dev
    sock = ns.udp_listener(port)
    try:
        r = ok(vm.run("net eth%d send %s %d %d 200" % (dev, HOST_IP, port, sends), timeout=60))
        assert r.get("sent") == str(sends), r
        got = drain(sock)
    finally:
        sock.close()
    assert len(got) == sends
    assert [int.from_bytes(d[:8], "big") for d, _ in got] == list(range(sends))
    assert all(len(d) == 200 and src == (GUEST_IPS[dev], 7) for d, src in got)
    after = stat(vm, dev)
    assert after["icmp_echo"] - before["icmp_echo"] == pings
    assert after["udp_echoed"] - before["udp_echoed"] == echoes
    assert after["udp_tx"] - before["udp_tx"] == sends


def test_ping_and_udp(ns, make_vm):
    ns.add_tap("tap0")
    vm = boot_in(ns, make_vm, ["-netdev", "tap,id=n0,ifname=tap0",
                               "-device", "virtio-net-device,netdev=n0,id=nic0,"
                               "mac=52:54:00:aa:bb:01"])
    set_ips(vm)
    d = link(vm)
    assert (d["link"], d["mac"], d["state"]) == ("up", "52:54:00:aa:bb:01", "ok"), d
    check_traffic(ns, vm, 0)
    # the second slot is there, without a NIC: link down
    assert link(vm, 1)["link"] == "down"


def test_ping_and_udp_virtio_net_pci(ns, make_vm, accel):
    """The same traffic on q35 through virtio-net-pci (docs/q35.md "virtio-pci");
    on emu with ioeventfd=on the guest's transmit kicks arrive through the queues'
    ioeventfds."""
    ns.add_tap("tap0")
    evfd = ["-accel", "emu,ioeventfd=on"] if accel == "emu" else []
    vm = boot_in(ns, make_vm, evfd + ["-netdev", "tap,id=n0,ifname=tap0",
                               "-device", "virtio-net-pci,netdev=n0,id=nic0,"
                               "mac=52:54:00:aa:bb:02,addr=0x5"], machine="q35")
    set_ips(vm)
    d = link(vm)
    assert (d["link"], d["mac"], d["state"]) == ("up", "52:54:00:aa:bb:02", "ok"), d
    before = ioeventfd_signals(vm)
    check_traffic(ns, vm, 0)
    if on_emu(vm):
        assert ioeventfd_signals(vm) > before, before
    assert [x["qdev_id"] for x in vm.qmp.cmd("query-pci")[0]["devices"]] == ["", "nic0", ""]


ROOT_PORT = ["-device", "pcie-root-port,port=0x0,addr=0x1.0x0,bus=pcie.0,id=pcie.1"]


def slot_state(vm):
    """The guest's view of the root port's slot (`pci slots`)."""
    line = [l for l in ok(vm.run("pci slots")).lines if l.startswith("slot ")][0]
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def wait_powered(vm, plugs):
    deadline = time.monotonic() + 10
    while slot_state(vm)["plugs"] != str(plugs):
        assert time.monotonic() < deadline, slot_state(vm)
        time.sleep(0.05)


def test_q35_nic_replugged_below_root_port(ns, make_vm):
    """The seeds' standard-machine NIC hot-plug (netdev_add, device_add bus=pcie.1
    addr=0x0), three times on one port: the guest's driver takes each new
    function in by itself (its own MAC read again, the address kept), so the
    host pings it before any guest command; after device_del it is listed off."""
    vm = boot_in(ns, make_vm, ROOT_PORT, machine="q35")
    assert ok(vm.run("net list")).lines == [], "no NIC at boot"
    for cycle in range(1, 4):
        mac = "52:54:00:aa:cc:%02x" % cycle
        assert vm.qmp.cmd("netdev_add", id="net-0", ifname="tap0") == {}
        ns.bridge("tap0")
        assert vm.qmp.cmd("device_add", id="net-0", driver="virtio-net-pci", netdev="net-0",
                          mac=mac, bus="pcie.1", addr="0x0") == {}
        wait_powered(vm, cycle)
        if cycle == 1:
            set_ips(vm)
        else:
            # taken in again from the idle loop: no guest command since the plug
            assert ns.ping(GUEST_IPS[0], 2) == 2, cycle
        d = link(vm)
        assert (d["state"], d["mac"], d["link"], d["ip"]) == \
            ("ok", mac, "up", GUEST_IPS[0] + "/24"), d
        check_traffic(ns, vm, 0)
        with Flood(ns, GUEST_IPS[0]) as f:
            assert vm.qmp.cmd("device_del", id="net-0") == {}
            ev = vm.qmp.wait_event("DEVICE_DELETED", timeout=10)
        assert f.sent > 0
        assert ev["data"] == {"device": "net-0", "path": "net-0"}, ev
        assert vm.qmp.cmd("netdev_del", id="net-0") == {}
        assert not ns.has_link("tap0"), "tap0 not released"
        assert kv(ok(vm.run("net list")), "net")["state"] == "off", cycle
        assert vm.run("net eth0 link").msg == "off", cycle
    assert ok(vm.run("echo alive")).get("text") == "alive"


def plug(ns, vm, dev):
    q = vm.qmp
    tap = "tap%d" % dev
    assert q.cmd("netdev_add", id="net-%d" % dev, ifname=tap) == {}
    ns.bridge(tap)
    assert q.cmd("device_add", id="net-%d" % dev, driver="virtio-net-mmio",
                 addr="0x%x" % dev) == {}


def unplug(ns, vm, dev):
    q = vm.qmp
    assert q.cmd("device_del", id="net-%d" % dev) == {}
    ev = q.wait_event("DEVICE_DELETED")
    assert ev["data"] == {"device": "net-%d" % dev, "path": "net-%d" % dev}, ev
    assert q.cmd("netdev_del", id="net-%d" % dev) == {}
    assert not ns.has_link("tap%d" % dev), "tap%d not released" % dev


@pytest.mark.test_timeout(900)
def test_hotplug_cycles(ns, make_vm):
    vm = boot_in(ns, make_vm)
    set_ips(vm, (0, 1))
    assert link(vm, 0)["link"] == link(vm, 1)["link"] == "down"
    for cycle in range(CYCLES):
        for dev in (0, 1):
            plug(ns, vm, dev)
        for dev in (0, 1):
            assert link(vm, dev)["link"] == "up", cycle
            if cycle in (0, CYCLES - 1):
                check_traffic(ns, vm, dev)
            else:
                assert ns.ping(GUEST_IPS[dev], 1) == 1, cycle
                assert ns.udp_echo(GUEST_IPS[dev], 2) == 2, cycle
        for dev in (0, 1):
            with Flood(ns, GUEST_IPS[dev]) as f:
                unplug(ns, vm, dev)
            assert f.sent > 0
            assert link(vm, dev)["link"] == "down", cycle
    assert ok(vm.run("echo alive")).get("text") == "alive"


def test_getfd_tap(ns, make_vm):
    """The VMM stays in the root namespace: the tap comes as an fd over SCM_RIGHTS."""
    vm = make_vm()
    vm.boot()
    fd = ns.open_tap("tapfd0")
    try:
        ns.bridge("tapfd0")
        vm.qmp.transcript.append((">", "getfd tapfd + SCM_RIGHTS"))
        vm.qmp.sock.sendmsg([b'{"execute":"getfd","arguments":{"fdname":"tapfd"}}'],
                            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, "little"))])
        assert vm.qmp.recv() == {"return": {}}
    finally:
        os.close(fd)          # the VMM has its own copy now
    assert vm.qmp.cmd("netdev_add", id="net-0", fd="tapfd") == {}
    assert vm.qmp.cmd("device_add", id="net-0", driver="virtio-net-mmio", addr="0x0") == {}
    set_ips(vm)
    assert link(vm)["link"] == "up"
    check_traffic(ns, vm, 0)
    # the name was consumed: a second netdev_add with it fails
    r = vm.qmp.execute("netdev_add", {"id": "net-1", "fd": "tapfd"})
    assert r["error"]["desc"] == "Add netdev error: failed to convert {} to RawFd.", r
    assert vm.qmp.cmd("device_del", id="net-0") == {}
    vm.qmp.wait_event("DEVICE_DELETED")
    assert vm.qmp.cmd("netdev_del", id="net-0") == {}
    # the VMM closed its copy (and ours is closed): the non-persistent tap is gone
    assert not ns.has_link("tapfd0")


def test_set_link(ns, make_vm):
    ns.add_tap("tap0")
    vm = boot_in(ns, make_vm, ["-netdev", "tap,id=n0,ifname=tap0",
                               "-device", "virtio-net-device,netdev=n0,id=nic0"])
    set_ips(vm)
    assert ns.ping(GUEST_IPS[0], 1) == 1
    changes = int(link(vm)["config_changes"])
    for name in ("nic0", "n0"):         # QEMU: the NIC's id or its back end's
        assert vm.qmp.cmd("set_link", name=name, up=False) == {}
        d = link(vm)
        assert d["link"] == "down" and int(d["config_changes"]) > changes, d
        changes = int(d["config_changes"])
        before = stat(vm)
        assert ns.ping(GUEST_IPS[0], 2, timeout=1.0) == 0
        r = vm.run("net send %s 40000 5 64" % HOST_IP)
        # frames sent with the link down go nowhere (arp cannot resolve... or sends vanish)
        assert r.ok or r.msg == "arp-timeout", r
        assert stat(vm)["icmp_echo"] == before["icmp_echo"]
        assert vm.qmp.cmd("set_link", name=name, up=True) == {}
        d = link(vm)
        assert d["link"] == "up" and int(d["config_changes"]) > changes, d
        changes = int(d["config_changes"])
        assert ns.ping(GUEST_IPS[0], 2) == 2


def test_set_link_errors(make_vm):
    vm = make_vm()
    vm.boot()
    r = vm.qmp.execute("set_link", {"name": "nope", "up": False})
    assert r["error"] == {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}, r
    r = vm.qmp.execute("set_link", {"name": "nope"})
    assert r["error"]["desc"] == "Parameter 'up' is missing", r


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@pytest.mark.test_timeout(600)
def test_no_fd_leak(ns, make_vm):
    # 4 commands a cycle, as fast as the VMM answers: past lenient mode's
    # default 100 commands/s (docs/qmp.md), which is not what this test is about.
    vm = boot_in(ns, make_vm, qmp_opts=",rate-limit=off")
    q = vm.qmp

    def cycle():
        assert q.cmd("netdev_add", id="net-0", ifname="tap0") == {}
        assert q.cmd("device_add", id="net-0", driver="virtio-net-mmio", addr="0x0") == {}
        assert q.cmd("device_del", id="net-0") == {}
        q.wait_event("DEVICE_DELETED")
        assert q.cmd("netdev_del", id="net-0") == {}

    cycle()                    # first-use allocations (e.g. /dev/net/tun paths) out of the way
    before = fd_count(vm.pid)
    for _ in range(LEAK_CYCLES):
        cycle()
    assert fd_count(vm.pid) == before
    assert not ns.has_link("tap0")


NIC_GOLDENS = sorted(p for p in GOLDEN_DIR.glob("*.txt")
                     if "nic" in p.stem or "netdev" in p.stem)


@pytest.mark.parametrize("path", NIC_GOLDENS, ids=[p.stem for p in NIC_GOLDENS])
def test_nic_golden_on_guest(ns, make_vm, path):
    """The seed exchange byte for byte (test_golden.py's runner), on a VM in a
    namespace; then the guest sees what the exchange did to eth0."""
    g = Golden(path)

    def factory(cls=GoldenVm, **kw):
        return make_vm(cls=ns.vm_class(cls), **kw)

    vm, failures, actual = run_golden(g, factory)
    assert not failures, "%s:\n%s\n%s" % (path.name, "\n".join(failures), "\n".join(actual))
    plugged = ns.has_link("tap0") and "unplug" not in path.stem and "del" not in path.stem
    if "netdev-add" in path.stem:
        plugged = False       # a back end without a NIC
    if "q35" in path.stem and not plugged:
        # A PCI unplug takes the function away (a microvm slot stays, empty): no eth0.
        r = vm.run("net eth0 ip %s/24" % GUEST_IPS[0])
        assert r.status_line == "status=error msg=nodev", r
        return
    set_ips(vm)
    assert link(vm)["link"] == ("up" if plugged else "down"), path.name
    if plugged:
        ns.bridge("tap0")
        assert ns.ping(GUEST_IPS[0], 2) == 2
        assert ns.udp_echo(GUEST_IPS[0], 3) == 3


def rarp_listener(ns, ifname):
    """ETH_P_ALL: a bridge port's frames reach only the taps for every protocol."""
    s = ns.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((ifname, 0))
    s.settimeout(0.2)
    return s


def rarp_frames(sock, quiet=1.0):
    """Every RARP frame until `quiet` seconds pass without one."""
    got, deadline = [], time.monotonic() + quiet
    while time.monotonic() < deadline:
        try:
            f, addr = sock.recvfrom(2048)
        except socket.timeout:
            continue
        if f[12:14] == b"\x80\x35" and addr[2] != socket.PACKET_OUTGOING:
            got.append(f)
            deadline = time.monotonic() + quiet
    return got


def test_announce_self_sends_rarp(ns, make_vm):
    """announce-self (docs/qmp.md): each NIC sends `rounds` RARP requests from
    its address through its tap; `interfaces` selects NICs by id."""
    ns.add_tap("tap0")
    vm = boot_in(ns, make_vm, ["-netdev", "tap,id=n0,ifname=tap0",
                               "-device", "virtio-net-device,netdev=n0,id=nic0,"
                               "mac=52:54:00:aa:bb:01"])
    sock = rarp_listener(ns, "tap0")
    try:
        assert vm.qmp.cmd("announce-self", initial=20, max=60, rounds=3, step=20) == {}
        frames = rarp_frames(sock)
        mac = bytes.fromhex("525400aabb01")
        assert len(frames) == 3, frames
        for f in frames:
            assert f[:6] == b"\xff" * 6 and f[6:12] == mac and f[12:14] == b"\x80\x35", f
            # htype 1, ptype IPv4, hlen 6, plen 4, op 3 (request reverse), sha/tha = mac
            assert f[14:22] == bytes([0, 1, 8, 0, 6, 4, 0, 3]), f
            assert f[22:28] == mac and f[32:38] == mac and len(f) >= 60, f
        assert vm.qmp.cmd("announce-self", initial=1, max=1, rounds=2, step=1,
                          interfaces=["nic9"], id="a1") == {}
        assert rarp_frames(sock) == []
        assert vm.qmp.cmd("announce-self", initial=1, max=1, rounds=1, step=1,
                          interfaces=["nic0"]) == {}
        assert len(rarp_frames(sock)) == 1
    finally:
        sock.close()
    r = vm.qmp.execute("announce-self", {"initial": 1})
    assert r["error"]["desc"] == "Parameter 'max' is missing", r
