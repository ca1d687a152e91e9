"""QMP commands that reach into a running guest (docs/qmp.md "Guest memory
dumps", "Actions and NMI"): memsave walks the vCPU's page tables, inject-nmi
delivers an NMI.

emu only: on the nested KVM hosts a delivered NMI kills the guest
(../shared/spec/kvm-on-these-machines.md), and under qtest no vCPU runs
(tests/qtest/qmp-guestmem-test.c and qmp-action-test.c cover that side).
"""
import os
import time

import pytest

from stratus_vm import parse_info, scaled

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


def blockstats(vm, **args):
    return {e.get("qdev") or e["node-name"]: e for e in vm.qmp.cmd("query-blockstats", **args)}


def test_blockstats_count_the_guests_requests(make_vm, tmp_path):
    """query-blockstats (docs/qmp.md): the guest's virtio-blk reads, writes and
    flushes show up with their bytes; a free blockdev-add node is listed after
    the devices; query-nodes lists every node by name only."""
    img = tmp_path / "d0.img"
    img.write_bytes(b"")
    os.truncate(img, 8 << 20)
    vm = make_vm(extra_args=["-drive", "id=d0,file=%s" % img,
                             "-device", "virtio-blk-device,drive=d0,id=disk0"])
    vm.boot()
    ok(vm.run("blk list"))              # the driver initialises the device first
    before = blockstats(vm)["disk0"]
    assert before["device"] == "d0" and before["node-name"] == "d0", before
    ok(vm.run("blk write 0 8 16 5"))    # 16 sectors: one 8 KiB request
    ok(vm.run("blk read 0 0 4"))
    ok(vm.run("blk flush 0"))
    after = blockstats(vm)["disk0"]["stats"]
    delta = {k: after[k] - before["stats"][k] for k in
             ("wr_bytes", "wr_operations", "rd_bytes", "rd_operations", "flush_operations")}
    assert delta == {"wr_bytes": 8192, "wr_operations": 1, "rd_bytes": 2048,
                     "rd_operations": 1, "flush_operations": 1}, delta
    assert after["wr_highest_offset"] == 8 * 512 + 8192, after
    assert after["failed_wr_operations"] == after["invalid_rd_operations"] == 0, after
    assert after["wr_total_time_ns"] > 0 and "idle_time_ns" in after, after

    free = tmp_path / "free.img"
    free.write_bytes(b"\0" * 4096)
    assert vm.qmp.cmd("blockdev-add", **{"node-name": "n1", "driver": "raw",
                                          "file": {"driver": "file",
                                                   "filename": str(free)}}) == {}
    entries = vm.qmp.cmd("query-blockstats")
    assert [(e.get("device"), e["node-name"], e.get("qdev")) for e in entries] == \
        [("d0", "d0", "disk0"), ("n1", "n1", None)], entries
    nodes = vm.qmp.cmd("query-blockstats", **{"query-nodes": True})
    assert [sorted(e) for e in nodes] == [["node-name", "stats"]] * 2, nodes
    r = vm.qmp.execute("query-blockstats", {"query-nodes": "yes"})
    assert r["error"]["desc"] == "Invalid parameter type for 'query-nodes', expected: boolean", r


def measure_dirty_rate(vm, calc_time=1):
    assert vm.qmp.cmd("calc-dirty-rate", **{"calc-time": calc_time}) == {}
    deadline = time.monotonic() + scaled(30)
    while time.monotonic() < deadline:
        r = vm.qmp.cmd("query-dirty-rate")
        if r["status"] == "measured":
            return r
        assert r["status"] == "measuring", r
        time.sleep(0.05)
    raise AssertionError("the dirty-rate window did not end: %r" % r)


def test_calc_dirty_rate_sees_the_guest_write(booted_vm):
    """calc-dirty-rate (docs/migration.md): a guest rewriting 16 MiB over and
    over dirties at least half of it in a 1-second window; an idle guest
    almost nothing."""
    vm = booted_vm
    base = parse_info(ok(vm.run("info")))["ram_free"][0]["base"]
    vm.console.write("mem churn 30 0x%x 0x%x 9\n" % (base, 16 << 20))
    vm.console.read_until("mem churn", timeout=10)
    busy = measure_dirty_rate(vm)
    vm.console.read_until(r"churned=30", timeout=300)
    vm.console.wait_prompt()
    assert busy["mode"] == "page-sampling" and busy["calc-time"] == 1, busy
    assert 8 <= busy["dirty-rate"] <= 64, busy
    idle = measure_dirty_rate(vm)
    assert idle["dirty-rate"] <= 2, idle


def test_x_query_virtio_describes_the_driven_rings(make_vm):
    """After the guest read 16 bytes from virtio-rng, QEMU's introspection shows
    what the driver did: negotiated features and status bits, the ring
    addresses and indices, and the chain it made available (one 16-byte
    device-writable buffer)."""
    vm = make_vm(extra_args=["-object", "rng-random,id=r0",
                             "-device", "virtio-rng-device,rng=r0,id=rng0"])
    vm.boot()
    ok(vm.run("rng 16"))
    path = "/machine/peripheral/rng0"
    assert vm.qmp.cmd("x-query-virtio") == [{"name": "virtio-rng", "path": path}]
    st = vm.qmp.cmd("x-query-virtio-status", path=path)
    assert st["started"] and st["vm-running"] and not st["broken"], st
    assert [s.split(":")[0] for s in st["status"]["statuses"]] == [
        "VIRTIO_CONFIG_S_ACKNOWLEDGE", "VIRTIO_CONFIG_S_DRIVER",
        "VIRTIO_CONFIG_S_FEATURES_OK", "VIRTIO_CONFIG_S_DRIVER_OK"], st
    assert "VIRTIO_F_VERSION_1: virtio 1.x device" in st["guest-features"]["transports"], st
    q = vm.qmp.cmd("x-query-virtio-queue-status", path=path, queue=0)
    assert q["vring-desc"] and q["vring-avail"] and q["vring-used"], q
    assert q["last-avail-idx"] == q["used-idx"] == 1 and q["inuse"] == 0, q
    # index 0: the entry the driver filled; the default is the next, unfilled one.
    e = vm.qmp.cmd("x-query-virtio-queue-element", path=path, queue=0, index=0)
    assert e["avail"]["idx"] == 1 and e["used"]["idx"] == 1, e
    assert len(e["descs"]) == 1 and e["descs"][0]["len"] == 16 and \
        e["descs"][0]["flags"] == ["write"], e
    assert e["index"] == e["avail"]["ring"], e


def elf_core(path):
    """(e_machine, [(paddr, file offset, size)], [NT_PRSTATUS pr_reg tuples])"""
    import struct
    data = path.read_bytes()
    assert data[:6] == b"\x7fELF\x02\x01", data[:6]
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    assert e_type == 4, e_type                       # ET_CORE
    loads, regs = [], []
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, _, _ = struct.unpack_from("<IIQQQQQQ", data,
                                                                     phoff + 56 * i)
        if p_type == 1:
            loads.append((paddr, off, filesz))
        elif p_type == 4:
            n = off
            while n < off + filesz:
                namesz, descsz, ntype = struct.unpack_from("<III", data, n)
                desc = n + 12 + (namesz + 3) // 4 * 4
                if ntype == 1:                        # NT_PRSTATUS: pr_reg at 112
                    regs.append(struct.unpack_from("<27Q", data, desc + 112))
                n = desc + (descsz + 3) // 4 * 4
    return e_machine, loads, regs, data


def test_dump_guest_memory_is_an_elf_core_of_the_guest(make_vm, tmp_path):
    """An ELF core a debugger reads: one NT_PRSTATUS per vCPU with its RIP in
    the guest kernel, and PT_LOADs at guest-physical addresses holding what
    the guest wrote; begin/length clips the dump; the guest runs on."""
    vm = make_vm(smp=2)
    vm.boot()
    base = parse_info(ok(vm.run("info")))["ram_free"][0]["base"]
    ok(vm.run("mem fill 0x%x 0x%x 9" % (base, LEN)))
    core = tmp_path / "guest.core"
    assert vm.qmp.cmd("dump-guest-memory", paging=False, protocol="file:%s" % core) == {}
    ev = vm.qmp.wait_event("DUMP_COMPLETED")
    total = ev["data"]["result"]["total"]
    assert ev["data"]["result"] == {"status": "completed", "completed": total, "total": total}
    assert "error" not in ev["data"], ev
    machine, loads, regs, data = elf_core(core)
    assert machine == 62 and len(regs) == 2, (machine, regs)         # EM_X86_64
    assert all(0x100000 <= r[16] < 0x40000000 for r in regs), [hex(r[16]) for r in regs]
    assert sum(size for _, _, size in loads) == total == 256 << 20, loads
    seg = [l for l in loads if l[0] <= base < l[0] + l[2]][0]
    got = data[seg[1] + base - seg[0]:seg[1] + base - seg[0] + LEN]
    phys = tmp_path / "phys.bin"
    assert vm.qmp.cmd("pmemsave", val=base, size=LEN, filename=str(phys)) == {}
    assert got == phys.read_bytes() and got.count(0) < LEN // 2
    # A filtered dump holds exactly the range asked for.
    part = tmp_path / "part.core"
    assert vm.qmp.cmd("dump-guest-memory", paging=False, protocol="file:%s" % part,
                      begin=base, length=LEN) == {}
    _, loads, _, data = elf_core(part)
    assert [(l[0], l[2]) for l in loads] == [(base, LEN)], loads
    assert data[loads[0][1]:loads[0][1] + LEN] == got
    ok(vm.run("mem check 0x%x 0x%x 9" % (base, LEN)))
