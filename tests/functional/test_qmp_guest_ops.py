"""QMP commands that reach into a running guest (docs/qmp.md "Guest memory
dumps", "Actions and NMI"): memsave walks the vCPU's page tables, inject-nmi
delivers an NMI.

emu only: on the nested KVM hosts a delivered NMI kills the guest
(../shared/spec/kvm-on-these-machines.md), and under qtest no vCPU runs
(tests/qtest/qmp-guestmem-test.c and qmp-action-test.c cover that side).
"""
import pytest

from stratus_vm import parse_info

pytestmark = pytest.mark.parametrize("accel", ["emu"])

LEN = 0x3000


def ok(reply):
    assert reply.ok, reply
    return reply


def test_memsave_walks_the_guest_page_tables(booted_vm, tmp_path):
    """The guest identity-maps its RAM (tests/guest/README.md): memsave of a
    linear range equals pmemsave of the same physical one, after the guest
    wrote a pattern there; a linear address the guest never mapped fails."""
    vm = booted_vm
    base = parse_info(ok(vm.run("info")))["ram_free"][0]["base"]
    ok(vm.run("mem fill 0x%x 0x%x 7" % (base, LEN)))
    lin, phys = tmp_path / "lin.bin", tmp_path / "phys.bin"
    assert vm.qmp.cmd("memsave", val=base, size=LEN, filename=str(lin), **{"cpu-index": 0}) == {}
    assert vm.qmp.cmd("pmemsave", val=base, size=LEN, filename=str(phys)) == {}
    data = lin.read_bytes()
    assert len(data) == LEN and data == phys.read_bytes()
    assert data.count(0) < LEN // 2, "the pattern is not there"
    unmapped = 0x400000000000          # PML4 entry 128: the guest maps only 0-4 GiB
    r = vm.qmp.execute("memsave", {"val": unmapped, "size": 16, "filename": str(lin)})
    assert r["error"] == {"class": "GenericError",
                          "desc": "Invalid addr 0x%016x/size 16 specified" % unmapped}, r
    # The guest kept running through the brief pause.
    ok(vm.run("mem check 0x%x 0x%x 7" % (base, LEN)))


def test_inject_nmi_reaches_the_guest(booted_vm):
    """The test guest treats vector 2 as a fault: it reports it and powers off."""
    vm = booted_vm
    assert vm.qmp.cmd("inject-nmi") == {}
    vm.console.read_until("fault vector=2 ", timeout=30)
    ev = vm.qmp.wait_event("SHUTDOWN")
    assert ev["data"]["reason"] == "guest-shutdown", ev
    assert vm.wait() == 0
