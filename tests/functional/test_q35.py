"""The standard machine, -machine q35 (src/hw/x86/q35.c, docs/q35.md), with the
test guest booted directly (-kernel) as on microvm.

* The guest reaches its prompt and sees the vCPUs and RAM (RAM below 2 GiB,
  then from 4 GiB); poweroff and reboot behave as on microvm.
* PCI: the guest's `pci` lists the host bridge 00:00.0 (8086:29c0, class
  060000) and the ICH9 LPC 00:1f.0 (8086:2918, class 060100) the same through ECAM found by ACPI's MCFG (0xB0000000), the port
  pair (CF8/CFC) and a named ECAM base; query-pci answers in QEMU's shape.
* ACPI (on by default): RSDP, XSDT, FADT with FACS and DSDT, MADT, MCFG.
* The same image on QEMU's q35 lists the same host bridge function.
* Errors: virtio-mmio devices, a missing -kernel and device_add are refused with
  one clear line / QMP error, and the VM keeps running after the QMP ones.
"""

import hashlib

import pytest

from stratus_vm import PROMPT, QemuVm
from test_cmdline import argv_of, base_opts, check_error_exit
from test_interrupts import ioeventfd_signals

Q35 = dict(machine="q35")
HOST_BRIDGE = "pci bdf=00:00.0 id=8086:29c0 class=060000 header=0 pin=0"
LPC = "pci bdf=00:1f.0 id=8086:2918 class=060100 header=0 pin=0"   # ICH9 LPC, as QEMU's

pytestmark = pytest.mark.covers(options=["machine"], commands=["query-pci"])


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def pci_lines(reply):
    return [l for l in reply.lines if l.startswith("pci bdf=")]


def test_q35_boots_and_sees_its_memory(make_vm):
    vm = make_vm(mem="3G", smp=2, **Q35)
    vm.boot()
    info = ok(vm.run("info"))
    ram = [l for l in info.lines if l.startswith("e820 ") and l.endswith("type=1")]
    # 2 GiB below 4 GiB, the third from 4 GiB (q35's split, not microvm's 3 GiB).
    assert any("base=0x100000 size=0x7ff00000" in l for l in ram), info
    assert any("base=0x100000000 size=0x40000000" in l for l in ram), info
    assert any(l.startswith("cpus=2 online=2 ") for l in info.lines), info
    assert vm.qmp.cmd("query-status")["status"] == "running"


def test_q35_boots_vmlinux_bin(make_vm, vmlinux):
    """Direct boot of a raw vmlinux.bin, as on microvm."""
    vm = make_vm(kernel=vmlinux, **Q35)
    vm.boot()
    ok(vm.run("echo raw"))


def test_q35_pci_host_bridge_mcfg_cf8_and_ecam(make_vm):
    vm = make_vm(**Q35)
    vm.boot()
    # By default the guest takes the ECAM window from ACPI's MCFG, as an OS does.
    mcfg = ok(vm.run("pci"))
    assert pci_lines(mcfg) == [HOST_BRIDGE, LPC], mcfg
    assert mcfg.lines[-1] == "pci functions=2 via=mcfg ecam=0xb0000000", mcfg
    cf8 = ok(vm.run("pci cf8"))
    assert pci_lines(cf8) == [HOST_BRIDGE, LPC], cf8
    assert cf8.lines[-1] == "pci functions=2 via=cf8 ecam=0x0", cf8
    ecam = ok(vm.run("pci ecam=0xb0000000"))
    assert pci_lines(ecam) == [HOST_BRIDGE, LPC], ecam
    assert ecam.lines[-1] == "pci functions=2 via=ecam ecam=0xb0000000", ecam
    for bad in ("pci ecam=zz", "pci ecam=0", "pci bogus"):
        r = vm.run(bad)
        assert not r.ok and "usage: pci" in r.status_line, r


def test_q35_virtio_rng_pci_seen_by_guest(make_vm):
    vm = make_vm(extra_args=["-object", "rng-random,id=r0,filename=/dev/urandom",
                             "-device", "virtio-rng-pci,rng=r0,id=rng0,bus=pcie.0,addr=0x3.0x0"],
                 **Q35)
    vm.boot()
    r = ok(vm.run("pci"))
    assert pci_lines(r) == [HOST_BRIDGE,
                            "pci bdf=00:03.0 id=1af4:1044 class=00ff00 header=0 pin=1", LPC], r
    devs = vm.qmp.cmd("query-pci")[0]["devices"]
    assert [(d["slot"], d["qdev_id"]) for d in devs] == [(0, ""), (3, "rng0"), (31, "")]


def test_q35_virtio_blk_pci_io(make_vm, tmp_path):
    """The test guest's virtio-blk driver over virtio-pci (its BARs placed by the
    guest, polling): write, verify, md5 against the host file, a flush."""
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    vm = make_vm(extra_args=["-drive", "if=none,id=d0,file=%s,format=raw" % img,
                             "-device", "virtio-blk-pci,drive=d0,id=disk0,addr=0x4"], **Q35)
    vm.boot()
    info = ok(vm.run("info"))
    assert "virtio_pci index=0 bdf=00:04.0 irq=16 device_id=2 common=0xc0004000" in info.lines, info
    lst = ok(vm.run("blk list"))
    assert any("capacity=16384" in l and "state=ok" in l for l in lst.lines), lst
    ok(vm.run("blk write 0 8 64 77"))
    v = ok(vm.run("blk verify 0 8 64 77"))
    assert "mismatches=0" in v.lines[0], v
    ok(vm.run("blk flush 0"))
    md5 = ok(vm.run("blk md5 0 8 64")).lines[0].split("md5=")[1]
    with open(img, "rb") as f:
        f.seek(8 * 512)
        assert hashlib.md5(f.read(64 * 512)).hexdigest() == md5


@pytest.mark.parametrize("accel", ["emu"])
@pytest.mark.parametrize("setting", [None, "off", "on"])
def test_q35_emu_ioeventfd(make_vm, tmp_path, accel, setting):
    """-accel emu,ioeventfd=on|off (docs/accelerators.md): by default and with off
    every kick goes through the BAR4 handler on the vCPU, none through an eventfd;
    with on every request's kick goes through the queue's ioeventfd (docs/q35.md
    "virtio-pci"): x-query-irq counts one signal per request."""
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    accel_arg = ["-accel", "emu,ioeventfd=%s" % setting] if setting else []
    vm = make_vm(extra_args=accel_arg + ["-drive", "if=none,id=d0,file=%s,format=raw" % img,
                                         "-device", "virtio-blk-pci,drive=d0,addr=0x4"], **Q35)
    vm.boot()
    ok(vm.run("blk write 0 8 64 77"))
    v = ok(vm.run("blk verify 0 8 64 77"))
    assert "mismatches=0" in v.lines[0], v
    ok(vm.run("blk flush 0"))
    # write, read back, flush: three requests at least, each kicked
    assert (ioeventfd_signals(vm) >= 3) if setting == "on" else (ioeventfd_signals(vm) == 0)


def irr(vm):
    return ok(vm.run("irq")).lines[0].split("=", 1)[1].split(",")


@pytest.mark.qemu
def test_q35_virtio_pci_msix_same_on_qemu(make_vm, qemu_bin, tmp_path):
    """The same guest session on QEMU's q35 with a modern-only virtio-blk-pci."""
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm = make_vm(cls=QemuVm, binary=qemu_bin, machine="q35",
                 extra_args=["-drive", "if=none,id=d0,file=%s,format=raw" % img,
                             "-device", "virtio-blk-pci,drive=d0,addr=0x4,disable-legacy=on"])
    vm.boot()
    ok(vm.run("blk list"))
    r = ok(vm.run("pci msix 4 0x50"))
    assert r.lines[0].startswith("msix slot=4 vector=0x50 table=0x"), r
    assert "0x50" not in irr(vm)
    ok(vm.run("blk read 0 0 8"))
    assert "0x50" in irr(vm)


def test_q35_virtio_pci_msix_from_guest(make_vm, tmp_path):
    """The guest points queue 0 of a virtio-blk-pci at an MSI-X entry for vector 0x50
    on APIC 0; a completed read raises it in the LAPIC (emu's APIC bus), not before."""
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm = make_vm(extra_args=["-drive", "if=none,id=d0,file=%s,format=raw" % img,
                             "-device", "virtio-blk-pci,drive=d0,addr=0x4"], **Q35)
    vm.boot()
    ok(vm.run("blk list"))
    r = ok(vm.run("pci msix 4 0x50"))
    assert r.lines == ["msix slot=4 vector=0x50 table=0xc0000000 entries=2"], r
    assert "0x50" not in irr(vm)
    ok(vm.run("blk read 0 0 8"))
    assert "0x50" in irr(vm)
    for bad, msg in (("pci msix 9 0x50", "no-virtio-pci"),
                     ("pci msix 4 0x10", "usage: pci msix <slot> <vector 0x20-0xfe>")):
        r = vm.run(bad)
        assert r.status_line == "status=error msg=%s" % msg, r


def test_q35_virtio_rng_pci_reads(make_vm):
    vm = make_vm(extra_args=["-object", "rng-random,id=r0,filename=/dev/urandom",
                             "-device", "virtio-rng-pci,rng=r0"], **Q35)
    vm.boot()
    a, b = ok(vm.run("rng 64")), ok(vm.run("rng 64"))
    assert a.lines and a.lines != b.lines, (a, b)


def test_q35_without_acpi_uses_cf8(make_vm):
    vm = make_vm(machine="q35,acpi=off")
    vm.boot()
    r = ok(vm.run("pci"))
    assert pci_lines(r) == [HOST_BRIDGE, LPC], r
    assert r.lines[-1] == "pci functions=2 via=cf8 ecam=0x0", r


def test_q35_query_pci(make_vm):
    vm = make_vm(**Q35)
    vm.boot()
    vm.run("pci")           # a guest scan leaves the bridge's identity as it was
    assert vm.qmp.cmd("query-pci") == [{"bus": 0, "devices": [{
        "bus": 0, "slot": 0, "function": 0,
        "class_info": {"class": 0x0600, "desc": "Host bridge"},
        "id": {"device": 0x29c0, "vendor": 0x8086, "subsystem": 0x1100,
               "subsystem-vendor": 0x1af4},
        "irq_pin": 0, "qdev_id": "", "regions": []}, {
        "bus": 0, "slot": 31, "function": 0,
        "class_info": {"class": 0x0601, "desc": "ISA bridge"},
        "id": {"device": 0x2918, "vendor": 0x8086, "subsystem": 0x1100,
               "subsystem-vendor": 0x1af4},
        "irq_pin": 0, "qdev_id": "", "regions": []}]}]


@pytest.mark.parametrize("smp", [1, 2])
def test_q35_acpi_tables(make_vm, smp):
    """acpi=auto is on for q35: the guest finds RSDP, XSDT, a full FADT (with FACS and
    DSDT), the MADT with the SCI's override and MCFG, every checksum right."""
    vm = make_vm(smp=smp, **Q35)
    vm.boot()
    r = ok(vm.run("acpi"))
    head = r.records[0][1]
    assert head["rsdp"] == "0xe0000" and head["source"] == "bootparam", r.lines
    tables = {kv["table"]: kv for tag, kv in r.records if tag == "acpi" and "table" in kv}
    assert set(tables) == {"XSDT", "FACP", "FACS", "APIC", "MCFG", "DSDT"}, r.lines
    # The FACS has no checksum field.
    assert all(t["checksum"] == "ok" for sig, t in tables.items() if sig != "FACS"), r.lines
    lapics = [l for l in r.lines if l.startswith("madt lapic ")]
    assert len(lapics) == smp, r.lines
    assert [l for l in r.lines if l.startswith("madt override ")] == \
        ["madt override irq=3 gsi=3 flags=0x5"], r.lines


def test_q35_acpi_off(make_vm):
    vm = make_vm(machine="q35,acpi=off")
    vm.boot()
    r = vm.run("acpi")
    assert r.status == "error" and r.msg == "no-rsdp", r


def test_microvm_query_pci_is_empty(booted_vm):
    assert booted_vm.qmp.cmd("query-pci") == []
    r = ok(booted_vm.run("pci"))
    assert pci_lines(r) == [] and r.lines[-1] == "pci functions=0 via=cf8 ecam=0x0", r


def test_q35_poweroff_and_reboot(make_vm):
    vm = make_vm(**Q35)
    vm.boot()
    vm.console.write("reboot\n")
    # q35 restarts the guest (QEMU's and StratoVirt's standard machines): RESET, banner again.
    assert vm.qmp.wait_event("RESET")["data"] == {"guest": True}
    vm.console.read_until(r"stratus-testguest version=1 entry=64")
    vm.console.read_until(PROMPT)
    ok(vm.run("echo again"))
    vm.console.write("poweroff\n")
    assert vm.wait() == 0


def test_q35_snapshot_restores(make_vm, tmp_path):
    """migrate file: on q35 and -incoming file: in a new process: the board's
    section (the host bridge's config space) comes back with RAM and vCPUs."""
    snap = tmp_path / "snap"
    snap.mkdir()
    src = make_vm(**Q35)
    src.boot()
    ok(src.run("echo before"))
    assert src.qmp.execute("migrate", {"uri": "file:%s" % snap}) == {"return": {}}
    src.kill()
    dst = make_vm(extra_args=["-incoming", "file:%s" % snap], **Q35)
    dst.launch()
    dst.console.write("\n")
    dst.console.read_until(PROMPT)
    r = ok(dst.run("pci ecam=0xb0000000"))
    assert pci_lines(r) == [HOST_BRIDGE, LPC], r
    assert dst.qmp.cmd("query-status")["status"] == "running"


def test_microvm_snapshot_refused_on_q35(make_vm, tmp_path):
    snap = tmp_path / "snap"
    snap.mkdir()
    src = make_vm()
    src.boot()
    assert src.qmp.execute("migrate", {"uri": "file:%s" % snap}) == {"return": {}}
    src.kill()
    dst = make_vm(**Q35)
    check_error_exit([str(a) for a in dst.build_args()] + ["-incoming", "file:%s" % snap],
                     ["machine"])


@pytest.mark.qemu
def test_q35_host_bridge_same_on_qemu(make_vm, qemu_bin):
    vm = make_vm(cls=QemuVm, binary=qemu_bin, machine="q35")
    vm.boot()
    r = ok(vm.run("pci"))
    # QEMU's q35 also has its ICH9 functions at slot 31; the host bridge is the same,
    # and its firmware's MCFG names the same ECAM window.
    assert pci_lines(r)[0] == HOST_BRIDGE, r
    assert r.lines[-1].endswith(" via=mcfg ecam=0xb0000000"), r


def test_q35_refuses_what_it_cannot_take(make_vm, tmp_path):
    vm = make_vm(**Q35)
    vm.boot()
    resp = vm.qmp.execute("device_add", {"driver": "pvpanic", "id": "p1"})
    assert resp["error"]["desc"] == "Device 'pvpanic' cannot be hot-plugged on q35", resp
    assert vm.qmp.cmd("query-status")["status"] == "running"
    ok(vm.run("echo still"))


@pytest.mark.parametrize("drop, extra, message", [
    (None, ["-device", "virtio-rng-device,rng=r0",
            "-object", "rng-random,id=r0,filename=/dev/urandom"],
     "Device 'virtio-rng-device' needs a virtio-mmio bus, which q35 does not have"),
    (None, ["-device", "virtio-rng-pci,rng=r0,addr=0x0",
            "-object", "rng-random,id=r0,filename=/dev/urandom"],
     "PCI: slot 0 function 0 not available for virtio-rng-pci, in use by mch"),
    ("-kernel", [],
     "-kernel: kernel file is required for q35 machine type without firmware"),
])
def test_q35_command_line_errors(stratus, bzimage, tmp_path, drop, extra, message):
    opts = base_opts()
    opts["-machine"] = ["q35"]
    if drop:
        del opts[drop]
    argv = [str(stratus)] + argv_of(opts, extra + ["-accel", "emu"],
                                    {"KERNEL": bzimage, "SOCK": tmp_path})
    check_error_exit(argv, [message])
