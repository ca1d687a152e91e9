"""virtio-net back ends and NIC hot-plug, error paths (src/net/, src/hw/virtio/virtio-net.c,
src/qmp/qmp-commands-net.c, docs/net.md). The seeds' successful exchanges are goldens
(golden/00N-*nic*.txt, 000-netdev-*.txt); traffic on real taps is test_net_traffic.py.

Taps are created by the VMM through /dev/net/tun, which needs root (CAP_NET_ADMIN);
without it the tests skip with the reason printed.
"""

import os
import subprocess

import pytest

from test_cmdline import argv_of, base_opts, check_error_exit


def need_tun():
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun on this host")
    if os.geteuid() != 0:
        pytest.skip("creating a tap needs CAP_NET_ADMIN (run as root)")


def tapname(tmp_path, n=0):
    # Unique per test run so parallel runs do not fight over one name.
    return "stn%d%05d" % (n, (os.getpid() + hash(str(tmp_path))) % 100000)


def error(vm, cmd, args):
    r = vm.qmp.execute(cmd, args)
    assert "error" in r, r
    return r["error"]["desc"]


# What the tap tests exercise, for stratus-conformance's rows where they skip (no tun).
@pytest.mark.covers(commands=["netdev_add", "netdev_del", "device_add", "device_del"],
                    devices=["virtio-net-device"])
def test_qmp_errors(make_vm, tmp_path):
    need_tun()
    t0, t1, t2 = (tapname(tmp_path, i) for i in range(3))
    vm = make_vm()
    vm.boot()
    q = vm.qmp
    assert error(vm, "netdev_add", {"id": "n"}) == \
        "Tap device is missing, use 'ifname' or 'fd' to configure a tap device"
    assert error(vm, "netdev_add", {"id": "n", "fd": "nosuchname"}) == \
        "Add netdev error: failed to convert {} to RawFd."
    if not os.path.exists("/dev/vhost-net"):
        assert "/dev/vhost-net" in error(vm, "netdev_add", {"id": "n", "ifname": t0,
                                                            "vhost": True})
    assert error(vm, "netdev_add", {"id": "n", "ifname": t0, "queues": 17}) == \
        "queues=17: must be between 1 and 16"
    assert error(vm, "netdev_add", {"id": "n", "ifname": t0, "queues": 2,
                                    "vhostfds": "1"}) == \
        "The number of fds passed does not match the number of vhostfds passed"
    assert q.cmd("netdev_add", id="net-0", ifname=t0) == {}
    assert error(vm, "netdev_add", {"id": "net-0", "ifname": t1}) == \
        "Duplicate ID 'net-0' for netdev"
    # The same tap twice: the kernel says EBUSY.
    assert error(vm, "netdev_add", {"id": "other", "ifname": t0}) == "Tap device already in use"
    # device_add the seeds' way, without a matching netdev.
    assert error(vm, "device_add", {"id": "net-9", "driver": "virtio-net-mmio",
                                    "addr": "0x0"}) == "Failed to find device configuration."
    assert error(vm, "device_add", {"id": "x", "driver": "virtio-net-mmio", "netdev": "nope"}) \
        == "Property 'virtio-net-device.netdev' can't find value 'nope'"
    assert error(vm, "device_add", {"id": "net-0", "driver": "virtio-net-mmio",
                                    "addr": "0x2"}) == \
        "A maximum of 2 net replaceable devices are supported."
    assert error(vm, "device_add", {"id": "net-0", "driver": "virtio-net-mmio",
                                    "mac": "52:54:00"}) == \
        "Property 'virtio-net-device.mac' doesn't take value '52:54:00'"
    assert q.cmd("device_add", id="net-0", driver="virtio-net-mmio", addr="0x0") == {}
    assert error(vm, "netdev_del", {"id": "net-0"}) == \
        "Netdev 'net-0' is in use by device 'net-0'"
    assert q.cmd("netdev_add", id="net-1", ifname=t1) == {}
    assert error(vm, "device_add", {"id": "net-1", "driver": "virtio-net-mmio",
                                    "addr": "0x0"}) == "The slot 0 is occupied already."
    assert error(vm, "device_add", {"id": "n2", "driver": "virtio-net-mmio",
                                    "netdev": "net-0"}) == \
        "Property 'virtio-net-device.netdev' can't take value 'net-0', it's in use"
    assert q.cmd("device_add", id="net-1", driver="virtio-net-mmio", addr="0x1") == {}
    assert q.cmd("netdev_add", id="net-2", ifname=t2) == {}
    assert error(vm, "device_add", {"id": "net-2", "driver": "virtio-net-mmio"}) == \
        "A maximum of 2 net replaceable devices are supported."
    # Unplug, re-plug, delete: the tap goes with its netdev.
    assert q.cmd("device_del", id="net-0") == {}
    assert q.cmd("netdev_del", id="net-0") == {}
    assert error(vm, "netdev_del", {"id": "net-0"}) == "Device 'net-0' not found"
    assert subprocess.run(["ip", "link", "show", t0], capture_output=True).returncode != 0
    assert q.cmd("netdev_add", id="net-0", ifname=t0) == {}
    assert q.cmd("device_add", id="net-0", driver="virtio-net-mmio", addr="0x0") == {}
    # The guest keeps running through all of it.
    assert vm.run("echo alive").ok


@pytest.mark.parametrize("netdev,device,words", [
    ("tap,id=n0", None, ["Tap device is missing"]),
    ("user,id=n0", None, ["'type' does not accept value 'user'"]),
    ("tap,ifname=x", None, ["'id' is missing"]),
    ("tap,id=n0,fd=notanumber", None, ["failed to convert {} to RawFd"]),
    ("tap,id=n0,foo=1", None, ["foo"]),
    (None, "virtio-net-device,netdev=nope", ["can't find value 'nope'"]),
])
@pytest.mark.covers(options=["netdev", "device"], devices=["virtio-net-device"])
def test_netdev_option_errors(stratus, bzimage, tmp_path, netdev, device, words):
    need_tun()
    tail = []
    if netdev:
        tail += ["-netdev", netdev]
    if device:
        tail += ["-device", device]
    tail += ["-accel", "emu"]
    subst = {"KERNEL": str(bzimage), "SOCK": str(tmp_path)}
    check_error_exit([str(stratus)] + argv_of(base_opts(), tail, subst), words)


@pytest.mark.covers(options=["netdev"])
def test_vhost_without_vhost_net(stratus, bzimage, tmp_path):
    need_tun()
    if os.path.exists("/dev/vhost-net"):
        pytest.skip("this host has /dev/vhost-net")
    subst = {"KERNEL": str(bzimage), "SOCK": str(tmp_path)}
    check_error_exit([str(stratus)] + argv_of(base_opts(), [
        "-netdev", "tap,id=n0,ifname=%s,vhost=on" % tapname(tmp_path), "-accel", "emu"],
        subst), ["/dev/vhost-net"])
