"""The -pci forms of virtio-balloon, virtio-vsock and virtio-serial on q35 driven by
the test guest's own drivers, as on microvm (the guest finds them as virtio-pci
functions on bus 0; docs/guest-shell.md): the same device code behind the other
transport (src/hw/virtio/virtio-pci.c).

* virtio-balloon-pci: QMP balloon targets reached by the guest, one BALLOON_CHANGED
  each, query-balloon agreeing.
* virtio-vsock-pci: the host's uds connection echoed by the guest.
* virtio-serial-pci with a virtconsole: bytes both ways between a host socket and
  the guest's port.
"""

import pytest

from test_balloon import MIB, RAM, balloon_to, guest_balloon, no_more_events
from test_vcon import console_vm, ping_pong
from test_vsock import GUEST_CID, run_echo

pytestmark = pytest.mark.covers(devices=["virtio-balloon-pci", "virtio-vsock-pci",
                                         "virtio-serial-pci"])


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def test_balloon_pci_targets(make_vm):
    vm = make_vm(machine="q35", mem="%dM" % (RAM // MIB),
                 extra_args=["-device", "virtio-balloon-pci,id=bal0,addr=0x5"])
    vm.boot()
    balloon_to(vm, 200 * MIB, 200 * MIB)
    balloon_to(vm, RAM, RAM)
    assert guest_balloon(vm)["pages"] == "0"
    no_more_events(vm)


def test_vsock_pci_echo(make_vm, tmp_path):
    uds = str(tmp_path / "vsock.sock")
    vm = make_vm(machine="q35", extra_args=[
        "-device", "virtio-vsock-pci,id=vs0,guest-cid=%d,uds-path=%s,addr=0x6" % (GUEST_CID, uds)])
    vm.boot()
    r = ok(vm.run("vsock list"))
    assert "state=ok" in r.lines[0], r
    run_echo(vm, uds, [1000, 70000])


def test_serial_pci_console_both_ways(make_vm):
    vm, _, host = console_vm(make_vm, machine="q35",
                             serial="virtio-serial-pci,id=vser,max_ports=4,addr=0x7")
    ping_pong(vm, host)
    host.close()
