"""Multiqueue virtio-net on a real multiqueue tap (docs/net.md "Multiqueue"), in a
network namespace as test_net_traffic.py: `-netdev tap,queues=2` opening the tap by
name, and `fds=a:b` with two queue descriptors passed by getfd. The test guest
negotiates MQ, enables both pairs (VQ_PAIRS_SET) and sends on the pair `q=` names;
the kernel's flow steering hands the replies of a flow to the queue it last came
from, so each pair carries traffic both ways and both sides' counts agree.
"""

import os
import socket

import pytest

import netns
from netns import GUEST_IPS, HOST_IP, drain
from stratus_vm import Vm
from test_net_traffic import boot_in, kv, ok, set_ips, stat, link

SENDS = 20


@pytest.fixture
def ns():
    yield from netns.namespace("mq")


def pair_traffic(ns, vm, pair, port):
    """SENDS datagrams from the guest on `pair`, then one reply per flow back to the
    guest's echo port: the host gets them all, the guest sees them on that pair."""
    before = stat(vm)
    sock = ns.udp_listener(port)
    try:
        r = ok(vm.run("net send %s %d %d 200 q=%d" % (HOST_IP, port, SENDS, pair), timeout=60))
        assert (r.get("sent"), r.get("q")) == (str(SENDS), str(pair)), r
        got = drain(sock)
        assert len(got) == SENDS
        assert [int.from_bytes(d[:8], "big") for d, _ in got] == list(range(SENDS))
        # The reply flow (host port -> guest:7) is the guest's flow reversed: steered to `pair`.
        sock.sendto(b"reply-%d" % pair, (GUEST_IPS[0], 7))
        echo, src = sock.recvfrom(2048)
        assert (echo, src) == (b"reply-%d" % pair, (GUEST_IPS[0], 7))
    finally:
        sock.close()
    after = stat(vm)
    assert after["tx_q%d" % pair] - before["tx_q%d" % pair] == SENDS + (1 if pair == 0 else 0)
    assert after["rx_q%d" % pair] - before["rx_q%d" % pair] >= 1
    assert after["udp_echoed"] - before["udp_echoed"] == 1
    return after


def check_mq(ns, vm):
    set_ips(vm)
    d = link(vm)
    assert (d["link"], d["state"]) == ("up", "ok"), d
    assert int(d["features"], 16) & (1 << 22), d          # MQ negotiated
    assert stat(vm)["pairs"] == 2
    assert ns.ping(GUEST_IPS[0], 2) == 2
    after1 = pair_traffic(ns, vm, 1, 41001)
    after0 = pair_traffic(ns, vm, 0, 41000)
    assert after0["tx_q1"] == after1["tx_q1"] >= SENDS
    # An unknown pair is refused by the guest shell.
    r = vm.run("net send %s 41000 1 10 q=2" % HOST_IP)
    assert not r.ok and r.msg == "bad-arguments", r


def test_queues_ifname(ns, make_vm):
    vm = boot_in(ns, make_vm, ["-netdev", "tap,id=n0,ifname=mq0,queues=2",
                               "-device", "virtio-net-device,netdev=n0,id=nic0,mq=on"])
    ns.bridge("mq0")
    check_mq(ns, vm)


def send_fd(vm, name, fd):
    vm.qmp.transcript.append((">", "getfd %s + SCM_RIGHTS" % name))
    vm.qmp.sock.sendmsg([b'{"execute":"getfd","arguments":{"fdname":"%s"}}' % name.encode()],
                        [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fd.to_bytes(4, "little"))])
    assert vm.qmp.recv() == {"return": {}}


def pass_tap_queues(ns, vm, ifname, names):
    """Opens one queue of multiqueue tap `ifname` per name, bridges the tap and
    hands each descriptor to the VMM with getfd under its name."""
    fds = [ns.open_tap(ifname, multi=True) for _ in names]
    try:
        ns.bridge(ifname)
        for name, fd in zip(names, fds):
            send_fd(vm, name, fd)
    finally:
        for fd in fds:
            os.close(fd)


def test_fds_getfd(ns, make_vm):
    """Two queues of one tap, opened here, passed by getfd, netdev_add fds=a:b; the NIC
    is hot-plugged with mq before the guest's driver first drives the slot."""
    vm = make_vm()
    vm.boot()
    pass_tap_queues(ns, vm, "mqfd0", ["qa", "qb"])
    r = vm.qmp.execute("netdev_add", {"id": "n0", "fds": "qa:qb", "queues": 3})
    assert r["error"]["desc"] == \
        "The number of fds passed does not match the number of queues (3)", r
    # the names were consumed (and the tap went with its last descriptor): again
    assert not ns.has_link("mqfd0")
    pass_tap_queues(ns, vm, "mqfd0", ["qa", "qb"])
    assert vm.qmp.cmd("netdev_add", id="n0", fds="qa:qb") == {}
    assert vm.qmp.cmd("device_add", id="n0", driver="virtio-net-mmio", addr="0x0", mq=True) == {}
    check_mq(ns, vm)


def test_mq_off_uses_one_pair(ns, make_vm):
    vm = boot_in(ns, make_vm, ["-netdev", "tap,id=n0,ifname=mq0,queues=2",
                               "-device", "virtio-net-device,netdev=n0,id=nic0"])
    ns.bridge("mq0")
    set_ips(vm)
    assert not int(link(vm)["features"], 16) & (1 << 22)
    assert stat(vm)["pairs"] == 1
    assert ns.ping(GUEST_IPS[0], 3) == 3
    assert ns.udp_echo(GUEST_IPS[0], 5) == 5
