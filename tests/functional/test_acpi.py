"""-machine microvm,acpi=on: the test guest's `acpi` command (docs/guest-shell.md)
finds the RSDP through boot_params.acpi_rsdp_addr, walks the XSDT, checks every
checksum and lists the MADT; acpi=off (the default) leaves no RSDP. The same
guest on QEMU's microvm with acpi=on finds QEMU's tables by the BIOS-area scan
(docs/microvm.md "ACPI")."""

import subprocess

import pytest

from stratus_vm import QemuVm


def acpi_tables(reply):
    """{signature: record} for the 'acpi table=...' lines of an `acpi` reply."""
    return {kv["table"]: kv for tag, kv in reply.records if tag == "acpi" and "table" in kv}


def madt_lines(reply, kind):
    return [l for l in reply.lines if l.startswith("madt %s " % kind)]


@pytest.mark.parametrize("smp", [1, 2])
def test_acpi_on_tables(make_vm, smp):
    vm = make_vm(machine="microvm,acpi=on", smp=smp)
    vm.boot()
    r = vm.run("acpi")
    assert r.ok, r
    head = r.records[0][1]
    assert head["rsdp"] == "0xe0000" and head["source"] == "bootparam", r.lines
    assert head["revision"] == "2" and head["oem"] == "STRATS", r.lines
    tables = acpi_tables(r)
    assert set(tables) == {"XSDT", "FACP", "APIC", "DSDT"}, r.lines
    for sig, t in tables.items():
        assert t["checksum"] == "ok", (sig, r.lines)
    assert tables["FACP"]["length"] == "276" and tables["FACP"]["revision"] == "6"
    assert tables["XSDT"]["length"] == str(36 + 2 * 8)
    lapics = madt_lines(r, "lapic")
    assert lapics == ["madt lapic uid=%d apic_id=%d enabled=1" % (i, i) for i in range(smp)]
    assert madt_lines(r, "ioapic") == ["madt ioapic id=%d addr=0xfec00000 gsi_base=0" % (smp + 1)]
    assert madt_lines(r, "override") == []
    # the guest still sees the CPUs and devices it saw without ACPI
    info = vm.info()
    assert info["online"] == smp
    assert vm.quit() == 0


def test_acpi_off_has_no_rsdp(make_vm):
    for machine in ("microvm", "microvm,acpi=off"):
        vm = make_vm(machine=machine, smp=2)
        vm.boot()
        r = vm.run("acpi")
        assert r.status == "error" and r.msg == "no-rsdp", r
        assert vm.quit() == 0


def test_acpi_bad_value(stratus, bzimage, tmp_path):
    p = subprocess.run([str(stratus), "-machine", "microvm,acpi=maybe", "-kernel", str(bzimage),
                        "-qmp", "unix:%s,server,nowait" % (tmp_path / "q.sock")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert p.stderr.strip() == ("stratus: error: -machine: Parameter 'acpi' does not accept "
                                "value 'maybe' (expected on, off or auto)"), p.stderr


def test_acpi_system_reset_rewrites_tables(make_vm):
    """A reset reloads the kernel and writes the tables again (the guest could have
    scribbled over them): after system_reset the new boot finds them intact."""
    vm = make_vm(machine="microvm,acpi=on", smp=2)
    vm.boot()
    assert vm.qmp.execute("system_reset") == {"return": {}}
    vm.console.wait_prompt()
    r = vm.run("acpi")
    assert r.ok and all(t["checksum"] == "ok" for t in acpi_tables(r).values()), r
    assert vm.quit() == 0


@pytest.mark.qemu
def test_same_guest_on_qemu_acpi(make_vm, qemu_bin):
    """QEMU's microvm with acpi=on (its firmware places the tables): the guest's
    scan finds them, and they list the same kinds of tables with good checksums."""
    vm = make_vm(cls=QemuVm, binary=qemu_bin, machine="microvm,acpi=on", mem="256", smp=2,
                 append="console=ttyS0")
    vm.boot()
    r = vm.run("acpi")
    assert r.ok, r
    assert r.records[0][1]["source"] == "scan", r.lines
    tables = acpi_tables(r)
    assert {"FACP", "APIC", "DSDT"} <= set(tables), r.lines
    assert all(t["checksum"] == "ok" for t in tables.values()), r.lines
    assert len(madt_lines(r, "lapic")) == 2, r.lines
    assert vm.quit() == 0


def test_acpi_on_powerdown_still_reaches_polling_guest(make_vm):
    """With acpi=on every press also pulses the GED's GSI 3; the PM1 status latch
    the test guest polls is unchanged, so system_powerdown still powers it off."""
    vm = make_vm(machine="microvm,acpi=on")
    vm.boot()
    assert vm.qmp.execute("system_powerdown") == {"return": {}}
    vm.console.read_until(r"powerbutton=pressed", timeout=30)
    assert vm.wait(30) == 0
