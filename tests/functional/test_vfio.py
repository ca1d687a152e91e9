"""vfio-pci on q35 (src/hw/vfio/, docs/vfio.md) with the test guest.

No CI host has /dev/vfio, so the guest-visible function comes from the
test-only back end (x-fake-dir=, a directory of files standing in for the
host regions; tests/qtest/vfio-pci-test.c drives it register by register):

* the guest's PCI scan (ECAM through MCFG, on a vCPU, with the seccomp
  filter on) finds the function with the host's IDs and class, INTA, at the
  addr= given, and query-pci names it;
* migrate refuses the VM up front with QEMU's blocker text, and the VM
  keeps running;
* hot-plug below a pcie-root-port with the seccomp sandbox on (the vfio
  group comes with the monitor): the guest's slot sees the function, a
  missing host device is a QMP error naming it, device_del completes;
* on a real host path: the one-line start-up errors where the host has no
  VFIO (missing device, malformed host=, a sysfs-shaped directory without
  iommu_group, one whose group has no /dev/vfio/N), and device_add's QMP
  error with the VM running on.
"""

import struct

import pytest

from test_cmdline import argv_of, base_opts, check_error_exit
from test_q35_hotplug import PORT, unplug, wait_slot

Q35 = dict(machine="q35")

pytestmark = pytest.mark.covers(options=["device"], devices=["vfio-pci"])


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def fake_function(d):
    """An Ethernet function 8086:10d3, BAR0 32-bit 128 KiB, MSI-X with 4 vectors in BAR3."""
    c = bytearray(4096)
    struct.pack_into("<HHHH", c, 0, 0x8086, 0x10d3, 0, 0x0010)
    struct.pack_into("<I", c, 0x08, 0x02000003)
    struct.pack_into("<I", c, 0x10, 0xfe000000)
    struct.pack_into("<I", c, 0x1c, 0xfd00000c)
    c[0x34], c[0x3d] = 0x40, 1
    struct.pack_into("<BBHII", c, 0x40, 0x11, 0, 3, 3, 0x2003)
    d.mkdir()
    (d / "config").write_bytes(bytes(c))
    for name, size in (("bar0", 0x20000), ("bar3", 0x4000)):
        with open(d / name, "wb") as f:
            f.truncate(size)
    return d


def test_guest_sees_the_function(make_vm, tmp_path):
    fake = fake_function(tmp_path / "fake")
    vm = make_vm(extra_args=["-device", "vfio-pci,id=hostnic,addr=0x4,x-fake-dir=%s" % fake],
                 **Q35)
    vm.boot()
    r = ok(vm.run("pci"))
    lines = [l for l in r.lines if l.startswith("pci bdf=")]
    assert "pci bdf=00:04.0 id=8086:10d3 class=020000 header=0 pin=1" in lines, r
    devs = vm.qmp.cmd("query-pci")[0]["devices"]
    assert (4, "hostnic", 0x8086, 0x10d3) in [
        (d["slot"], d["qdev_id"], d["id"]["vendor"], d["id"]["device"]) for d in devs], devs
    resp = vm.qmp.execute("migrate", {"uri": "file:%s" % (tmp_path / "snap")})
    assert resp["error"]["desc"] == ("State blocked by non-migratable device "
                                     "'/machine/peripheral/hostnic/vfio-pci'"), resp
    assert vm.qmp.cmd("query-status")["status"] == "running"
    ok(vm.run("echo still"))


def sysfs_dirs(tmp_path):
    """A function directory without iommu_group, and one whose group 4242 has no node."""
    nogroup = tmp_path / "0000:42:00.0"
    nogroup.mkdir()
    dev = tmp_path / "0000:43:00.0"
    dev.mkdir()
    (dev / "iommu_group").symlink_to("../../../kernel/iommu_groups/4242")
    return nogroup, dev


@pytest.mark.parametrize("case", ["not-found", "malformed", "no-group", "no-node", "microvm"])
def test_start_errors(stratus, bzimage, tmp_path, case):
    nogroup, dev = sysfs_dirs(tmp_path)
    device, message = {
        "not-found": ("host=ffff:ff:1f.7",
                      "vfio-pci: host device ffff:ff:1f.7 not found "
                      "(no /sys/bus/pci/devices/ffff:ff:1f.7)"),
        "malformed": ("host=1:2:3", "vfio-pci: host=1:2:3 is not a PCI address (dddd:bb:ss.f)"),
        "no-group": ("sysfsdev=%s" % nogroup, "has no iommu_group"),
        "no-node": ("sysfsdev=%s" % dev,
                    "vfio-pci: IOMMU group 4242 of 0000:43:00.0: /dev/vfio/4242: "
                    "No such file or directory"),
        "microvm": ("host=01:00.0", "No 'PCI' bus found for device 'vfio-pci'"),
    }[case]
    opts = base_opts()
    if case != "microvm":
        opts["-machine"] = ["q35"]
    argv = [str(stratus)] + argv_of(opts, ["-accel", "emu", "-device", "vfio-pci," + device],
                                    {"KERNEL": bzimage, "SOCK": tmp_path})
    check_error_exit(argv, [message])


def test_device_add_error_keeps_running(make_vm):
    vm = make_vm(**Q35)
    vm.boot()
    resp = vm.qmp.execute("device_add", {"driver": "vfio-pci", "id": "v0",
                                         "host": "ffff:ff:1f.7"})
    assert resp["error"]["class"] == "GenericError", resp
    assert vm.qmp.cmd("query-status")["status"] == "running"
    ok(vm.run("echo still"))


def test_hotplug_below_root_port(make_vm, tmp_path):
    fake = fake_function(tmp_path / "fake")
    vm = make_vm(machine="q35", extra_args=PORT + ["-sandbox", "on"])
    vm.boot()
    resp = vm.qmp.execute("device_add", {"driver": "vfio-pci", "id": "v1", "bus": "pcie.1",
                                         "addr": "0x0", "host": "ffff:ff:1f.7"})
    assert resp["error"]["desc"] == ("vfio-pci: host device ffff:ff:1f.7 not found "
                                     "(no /sys/bus/pci/devices/ffff:ff:1f.7)"), resp
    vm.qmp.cmd("device_add", id="vfio-0", driver="vfio-pci", bus="pcie.1", addr="0x0",
               **{"x-fake-dir": str(fake)})
    s = wait_slot(vm, present=1, power=1)
    assert s["device"] == "8086:10d3", s
    unplug(vm, "vfio-0")
    wait_slot(vm, present=0)
    assert vm.qmp.cmd("query-status")["status"] == "running"
