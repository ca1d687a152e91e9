"""PCI Express hot-plug on q35 through pcie-root-port (src/hw/pci/pcie-root-port.c,
docs/pci.md), with the test guest servicing its slots as an OS's pciehp does
(tests/guest/pcie_hp.c: it powers a slot on when a device appears and off when
the attention button is pressed, from its idle loop).

* A disk cold-plugged behind a root port: the guest numbers the port's bus,
  opens its window, powers the slot and does I/O on the disk (md5 against the
  host file); query-pci shows it below the bridge.
* The seeds' standard-machine sequence: blockdev-add, device_add bus=pcie.1
  addr=0x0, the guest sees and uses the disk; device_del answers at once and
  DEVICE_DELETED follows when the guest has powered the slot off; blockdev-del.
* Ten plug/unplug cycles on one port, with I/O each time.
* Unplug of a disk the guest is using (a benchmark running): the unplug
  completes when the guest gets to it, the VM and the guest keep running.
* Errors: a bus that does not exist, pcie.0, a slot other than 0, an occupied
  port, a second device_del while one is pending.
"""

import hashlib
import time

import pytest

from stratus_vm import PROMPT, QemuVm

pytestmark = pytest.mark.covers(devices=["pcie-root-port", "virtio-blk-pci"],
                                commands=["device_add", "device_del", "blockdev-add",
                                          "blockdev-del", "query-pci"],
                                events=["DEVICE_DELETED"])

PORT = ["-device", "pcie-root-port,port=0x0,addr=0x1.0x0,bus=pcie.0,id=pcie.1"]


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def image(tmp_path, name="block.img", size=8 << 20):
    img = tmp_path / name
    with open(img, "wb") as f:
        f.truncate(size)
    return img


def slot(vm):
    """The guest's view of the first root port's slot (`pci slots`)."""
    r = ok(vm.run("pci slots"))
    line = [l for l in r.lines if l.startswith("slot ")][0]
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def wait_slot(vm, timeout=10.0, **want):
    deadline = time.monotonic() + timeout
    while True:
        s = slot(vm)
        if all(s[k] == str(v) for k, v in want.items()):
            return s
        assert time.monotonic() < deadline, "slot never reached %r: %r" % (want, s)
        time.sleep(0.05)


def blockdev_add(vm, img, name="drive-0"):
    vm.qmp.cmd("blockdev-add", **{"node-name": name,
                                   "file": {"driver": "file", "filename": str(img)},
                                   "cache": {"direct": False}, "read-only": False})


def plug(vm, img=None, id="drive-0"):
    if img is not None:
        blockdev_add(vm, img, id)
    vm.qmp.cmd("device_add", id=id, driver="virtio-blk-pci", drive=id, addr="0x0",
               bus="pcie.1")


def unplug(vm, id="drive-0"):
    assert vm.qmp.cmd("device_del", id=id) == {}
    ev = vm.qmp.wait_event("DEVICE_DELETED", timeout=10)
    assert ev["data"] == {"device": id, "path": id}, ev


def booted(make_vm):
    """A q35 guest with the empty root port, at its prompt."""
    vm = make_vm(machine="q35", extra_args=PORT)
    vm.boot()
    return vm


def md5_of(img, sector, count):
    with open(img, "rb") as f:
        f.seek(sector * 512)
        return hashlib.md5(f.read(count * 512)).hexdigest()


def test_cold_plugged_disk_behind_root_port(make_vm, tmp_path):
    img = image(tmp_path)
    vm = make_vm(machine="q35", extra_args=PORT + [
        "-drive", "if=none,id=d0,file=%s,format=raw" % img,
        "-device", "virtio-blk-pci,drive=d0,id=disk0,bus=pcie.1,addr=0x0"])
    vm.boot()
    s = slot(vm)
    assert (s["bdf"], s["bus"], s["present"], s["power"], s["device"]) == \
        ("00:01.0", "1", "1", "1", "1af4:1042"), s
    info = ok(vm.run("info"))
    # Behind the port at slot 1, INTA swizzles to the port's own: GSI 17.
    assert any(l.startswith("virtio_pci index=0 bdf=01:00.0 irq=17 device_id=2 ")
               for l in info.lines), info
    ok(vm.run("blk write 0 8 64 21"))
    assert "mismatches=0" in ok(vm.run("blk verify 0 8 64 21")).lines[0]
    ok(vm.run("blk flush 0"))
    md5 = ok(vm.run("blk md5 0 8 64")).lines[0].split("md5=")[1]
    assert md5 == md5_of(img, 8, 64)
    port = [d for d in vm.qmp.cmd("query-pci")[0]["devices"] if d["slot"] == 1][0]
    bridge = port["pci_bridge"]
    assert (port["id"]["vendor"], port["id"]["device"]) == (0x1b36, 0x000c)
    assert bridge["bus"]["secondary"] == 1 and bridge["bus"]["subordinate"] == 1
    assert [(d["bus"], d["slot"], d["qdev_id"]) for d in bridge["devices"]] == [(1, 0, "disk0")]


def test_hotplug_and_unplug_disk_seed_sequence(make_vm, tmp_path):
    img = image(tmp_path)
    vm = booted(make_vm)
    assert slot(vm)["present"] == "0"
    plug(vm, img)
    s = wait_slot(vm, present=1, power=1, plugs=1)
    assert s["device"] == "1af4:1042", s
    lst = ok(vm.run("blk list"))
    assert any("capacity=16384" in l and "state=ok" in l for l in lst.lines), lst
    ok(vm.run("blk write 0 0 32 5"))
    ok(vm.run("blk flush 0"))
    assert ok(vm.run("blk md5 0 0 32")).lines[0].split("md5=")[1] == md5_of(img, 0, 32)
    unplug(vm)
    s = wait_slot(vm, present=0, power=0, unplugs=1)
    assert vm.qmp.cmd("blockdev-del", **{"node-name": "drive-0"}) == {}
    assert vm.qmp.cmd("query-status")["status"] == "running"
    ok(vm.run("echo still"))


def test_ten_plug_cycles(make_vm, tmp_path):
    img = image(tmp_path)
    vm = booted(make_vm)
    blockdev_add(vm, img)
    for i in range(1, 11):
        plug(vm)
        wait_slot(vm, present=1, power=1, plugs=i)
        # The driver takes the device in again by itself (same index, BARs in the
        # same window); while the slot is empty the disk is listed as off.
        assert "state=ok" in ok(vm.run("blk list")).lines[0]
        ok(vm.run("blk write 0 %d 8 %d" % (i * 8, i)))
        assert "mismatches=0" in ok(vm.run("blk verify 0 %d 8 %d" % (i * 8, i))).lines[0]
        unplug(vm)
        wait_slot(vm, present=0, unplugs=i)
        assert "state=off" in ok(vm.run("blk list")).lines[0]
        assert vm.run("blk read 0 0 1").msg == "no-device"
    assert vm.qmp.cmd("blockdev-del", **{"node-name": "drive-0"}) == {}


def test_unplug_of_a_disk_in_use(make_vm, tmp_path):
    img = image(tmp_path)
    vm = booted(make_vm)
    plug(vm, img)
    wait_slot(vm, present=1, power=1)
    ok(vm.run("blk list"))
    # The guest is busy with the disk when the request comes: the unplug waits for it.
    vm.console.write("blk bench 0 rand read 4096 4 1500\r")
    time.sleep(0.3)
    assert vm.qmp.cmd("device_del", id="drive-0") == {}
    vm.console.read_until("iops=", timeout=30)
    vm.console.read_until(PROMPT, timeout=30)
    ev = vm.qmp.wait_event("DEVICE_DELETED", timeout=10)
    assert ev["data"]["device"] == "drive-0"
    # The driver's requests to the vanished device fail; nothing else does.
    r = vm.run("blk read 0 0 1")
    assert not r.ok, r
    assert vm.qmp.cmd("query-status")["status"] == "running"
    ok(vm.run("echo alive"))


@pytest.mark.parametrize("args, desc", [
    ({"bus": "pcie.9", "addr": "0x0"}, "Failed to add device: Bus not found"),
    ({"bus": "pcie.0", "addr": "0x5"}, "Bus 'pcie.0' does not support hotplugging"),
    ({"bus": "pcie.1", "addr": "0x2"}, "HotPlug is not supported for device with devfn 16"),
])
def test_hotplug_errors(make_vm, tmp_path, args, desc):
    vm = booted(make_vm)
    blockdev_add(vm, image(tmp_path))
    resp = vm.qmp.execute("device_add", dict(id="d1", driver="virtio-blk-pci",
                                             drive="drive-0", **args))
    assert resp["error"] == {"class": "GenericError", "desc": desc}, resp
    assert vm.qmp.cmd("query-status")["status"] == "running"
    ok(vm.run("echo alive"))


def test_occupied_port_and_pending_unplug(make_vm, tmp_path):
    vm = booted(make_vm)
    plug(vm, image(tmp_path))
    wait_slot(vm, present=1, power=1)
    blockdev_add(vm, image(tmp_path, "second.img"), "drive-1")
    resp = vm.qmp.execute("device_add", dict(id="drive-1", driver="virtio-blk-pci",
                                             drive="drive-1", bus="pcie.1", addr="0x0"))
    assert resp["error"]["desc"] == ("PCI: slot 0 function 0 not available for "
                                     "virtio-blk-pci, in use by virtio-blk-pci"), resp
    # The guest answers only from its idle loop: keep it busy so the unplug stays pending.
    vm.console.write("blk bench 0 seq read 4096 1 1000\r")
    time.sleep(0.2)
    assert vm.qmp.cmd("device_del", id="drive-0") == {}
    resp = vm.qmp.execute("device_del", {"id": "drive-0"})
    assert resp["error"]["desc"] == "Device 'drive-0' is already in the process of unplug", resp
    vm.console.read_until(PROMPT, timeout=30)
    vm.qmp.wait_event("DEVICE_DELETED", timeout=10)


@pytest.mark.qemu
def test_hotplug_same_on_qemu(make_vm, qemu_bin, tmp_path):
    """The guest's pciehp against QEMU's q35 root port (native hot-plug: QEMU 7.2
    defaults to ACPI hot-plug for root ports, which the test guest has no AML for)."""
    img = image(tmp_path)
    vm = make_vm(cls=QemuVm, binary=qemu_bin, machine="q35", extra_args=[
        "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
        "-device", "pcie-root-port,id=pcie.1,bus=pcie.0,addr=0x1,chassis=1"])
    vm.boot()
    assert slot(vm)["present"] == "0"
    vm.qmp.cmd("blockdev-add", **{"driver": "raw", "node-name": "drive-0",
                                   "file": {"driver": "file", "filename": str(img)}})
    vm.qmp.cmd("device_add", id="drive-0", driver="virtio-blk-pci", drive="drive-0",
               addr="0x0", bus="pcie.1", **{"disable-legacy": "on"})
    s = wait_slot(vm, present=1, power=1, plugs=1)
    assert s["device"] == "1af4:1042", s
    ok(vm.run("blk write 0 0 16 9"))
    assert "mismatches=0" in ok(vm.run("blk verify 0 0 16 9")).lines[0]
    assert vm.qmp.cmd("device_del", id="drive-0") == {}
    # QEMU 7.x first reports the device's virtio-backend child (a path, no id).
    ev = vm.qmp.wait_event("DEVICE_DELETED", timeout=10)
    while "device" not in ev["data"]:
        ev = vm.qmp.wait_event("DEVICE_DELETED", timeout=10)
    assert ev["data"]["device"] == "drive-0", ev
    wait_slot(vm, present=0, power=0, unplugs=1)


def test_snapshot_with_a_disk_behind_a_root_port(make_vm, tmp_path):
    """migrate file: with a disk below a root port the guest numbered and uses, restored
    in a new process: the port's bus number, window and slot state and the disk's
    transport come back, and the guest's next I/O on it works."""
    img = image(tmp_path)
    snap = tmp_path / "snap"
    snap.mkdir()
    args = PORT + ["-drive", "if=none,id=d0,file=%s,format=raw" % img,
                   "-device", "virtio-blk-pci,drive=d0,id=disk0,bus=pcie.1,addr=0x0"]
    src = make_vm(machine="q35", extra_args=args)
    src.boot()
    ok(src.run("blk write 0 0 16 3"))
    before = slot(src)
    assert src.qmp.execute("migrate", {"uri": "file:%s" % snap}) == {"return": {}}
    src.kill()
    dst = make_vm(machine="q35", extra_args=args + ["-incoming", "file:%s" % snap])
    dst.launch()
    dst.console.write("\n")
    dst.console.read_until(PROMPT)
    assert slot(dst) == before
    assert "mismatches=0" in ok(dst.run("blk verify 0 0 16 3")).lines[0]
    ok(dst.run("blk write 0 16 16 4"))
    assert "mismatches=0" in ok(dst.run("blk verify 0 16 16 4")).lines[0]
    port = [d for d in dst.qmp.cmd("query-pci")[0]["devices"] if d["slot"] == 1][0]
    assert port["pci_bridge"]["bus"]["secondary"] == 1
    assert [d["qdev_id"] for d in port["pci_bridge"]["devices"]] == ["disk0"]


@pytest.mark.covers(options=["global"])
def test_fast_unplug_global(make_vm, tmp_path):
    """-global pcie-root-port.fast-unplug=1 (StratoVirt's option): device_del takes the
    link down as well; a global for a class Stratus does not have (libvirt passes
    kvm-pit's) is a warning in the log, as QEMU's, and the VM runs."""
    vm = make_vm(machine="q35", log_file=tmp_path / "vmm.log", extra_args=PORT + [
        "-global", "pcie-root-port.fast-unplug=1",
        "-global", "kvm-pit.lost_tick_policy=delay"])
    vm.boot()
    assert "global kvm-pit.lost_tick_policy has invalid class name" in vm.log_text()
    plug(vm, image(tmp_path))
    wait_slot(vm, present=1, power=1)
    unplug(vm)
    wait_slot(vm, present=0, power=0, unplugs=1)
