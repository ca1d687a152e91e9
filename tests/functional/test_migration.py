"""Live migration on the test guest (docs/migration.md "Live migration",
src/migration/live*.c): `-incoming tcp:/unix:` and `migrate` with those URIs.

* Over unix and tcp loopback while the guest rewrites a 16 MiB pattern
  (`mem churn`): converges, the pattern checks on the destination, its
  serial and QMP work, the source ends with SHUTDOWN and exit 0; with
  -no-shutdown the source stays ("postmigrate") and query-migrate shows the
  completed statistics.
* migrate_cancel mid-way (a low max-bandwidth keeps it mid-way): the source
  runs on, status canceled; the destination exits 1 with one error line.
* The destination killed mid-way: the source runs on, status failed.
* A destination with another -m / -smp / device set refuses at once.
* MIGRATION events with the events capability; migrate while one runs is
  StratoVirt's illegal transition.
* -S on the destination: paused until `cont`.
* The disk image lock moves to the destination only at hand-over; a failed
  migration leaves it with the source.
* A guest that dirties faster than the downtime limit allows is stopped
  after 30 pre-copy rounds and still arrives intact.
* migrate's address errors.
* Under load: two vCPUs rewrite memory already sent (`smp churn`) and the
  guest writes to two virtio-blk disks during pre-copy, a benchmark in
  flight at the stop; memory and disks check on the destination and the
  image on the host.
"""

import os
import socket
import time

import pytest

from stratus_vm import parse_info

MIB = 1 << 20
PATTERN_LEN = 16 * MIB
SEED = 0x11E5


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pattern_base(vm):
    return parse_info(ok(vm.run("info")))["ram_free"][0]["base"]


def churn_passes(vm, base, length, seconds, at_least):
    """Passes of `mem churn` over `length` bytes that take about `seconds` on
    this VM (timed on a few): with a fixed count, a faster CPU could end the
    churn before the migration did, and the destination then never printed
    `churned=` (a hang, not a failure)."""
    probe = max(1, (200 * MIB) // length)
    t0 = time.monotonic()
    ok(vm.run("mem churn %d 0x%x 0x%x %d" % (probe, base, length, SEED)))
    rate = probe / max(time.monotonic() - t0, 1e-3)
    return max(at_least, int(rate * seconds))


def uri_for(kind, tmp):
    if kind == "unix":
        return "unix:%s" % os.path.join(tmp, "mig.sock")
    return "tcp:127.0.0.1:%d" % free_port()


def wait_status(vm, want, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        st = vm.qmp.cmd("query-migrate")
        if st.get("status") in want:
            return st
        assert time.monotonic() < deadline, "still %r" % st
        time.sleep(0.05)


def start_pair(make_vm, sockdir, kind, src_kw=None, dst_kw=None):
    src = make_vm(**(src_kw or {}))
    src.boot()
    uri = uri_for(kind, sockdir)
    kw = dict(dst_kw or {})
    kw["extra_args"] = list(kw.get("extra_args", [])) + ["-incoming", uri]
    dst = make_vm(**kw)
    dst.launch()
    return src, dst, uri


@pytest.mark.parametrize("kind", ["unix", "tcp"])
def test_live_migration_while_dirtying(make_vm, sockdir, kind):
    src, dst, uri = start_pair(make_vm, sockdir, kind)
    st = dst.qmp.cmd("query-status")
    assert (st["status"], st["running"]) == ("inmigrate", False)
    base = pattern_base(src)
    passes = churn_passes(src, base, PATTERN_LEN, 4.0, 40)
    src.console.write("mem churn %d 0x%x 0x%x %d\n" % (passes, base, PATTERN_LEN, SEED))
    src.console.read_until("mem churn", timeout=10)
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    src.qmp.wait_event("STOP", timeout=120)
    assert "churned=" not in src.console.drain(), "the churn ended before the migration"
    shutdown = src.qmp.wait_event("SHUTDOWN", timeout=60)
    assert shutdown["data"] == {"guest": False, "reason": "host-qmp-quit"}, shutdown
    assert src.wait(30) == 0
    dst.qmp.wait_event("RESUME", timeout=60)
    dst.console.read_until(r"churned=%d" % passes, timeout=120)
    assert dst.qmp.cmd("query-status")["status"] == "running"
    assert dst.qmp.cmd("query-migrate")["status"] == "completed"
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    assert ok(dst.run("echo moved")).get("text") == "moved"
    assert dst.quit() == 0


def test_source_stats_with_no_shutdown(make_vm, sockdir):
    src, dst, uri = start_pair(make_vm, sockdir, "unix", src_kw={"extra_args": ["-no-shutdown"]})
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    info = wait_status(src, ("completed", "failed"))
    assert info["status"] == "completed", info
    ram = info["ram"]
    assert ram["total"] == 256 * MIB and ram["remaining"] == 0, info
    assert ram["normal"] >= PATTERN_LEN // 4096, info
    assert ram["duplicate"] + ram["normal"] <= ram["total"] // 4096 * 40, info
    assert ram["transferred"] >= ram["normal"] * 4096, info
    assert ram["dirty-sync-count"] >= 2, info
    for key in ("total-time", "downtime", "setup-time"):
        assert isinstance(info[key], int) and info[key] >= 0, info
    assert src.qmp.cmd("query-status")["status"] == "postmigrate"
    text = src.qmp.cmd("human-monitor-command", **{"command-line": "info migrate"})
    assert "\r\nMigration status: completed\r\ntotal time: %d ms\r\ndowntime: %d ms\r\n" \
        "setup: %d ms\r\ntransferred ram: %d kbytes\r\n" % (
            info["total-time"], info["downtime"], info["setup-time"],
            ram["transferred"] >> 10) in text, text
    assert "\r\nnormal: %d pages\r\n" % ram["normal"] in text, text
    dst.qmp.wait_event("RESUME", timeout=60)
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    assert src.quit() == 0 and dst.quit() == 0


def test_cancel_mid_way(make_vm, sockdir):
    src, dst, uri = start_pair(make_vm, sockdir, "unix")
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 4 * MIB})
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    time.sleep(0.5)
    assert src.qmp.cmd("query-migrate")["status"] == "active"
    assert src.qmp.execute("migrate_cancel") == {"return": {}}
    assert dst.wait(30) == 1
    lines = [l for l in dst.stderr_text().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("stratus: error: "), lines
    assert "canceled" in lines[0], lines
    assert src.qmp.cmd("query-migrate")["status"] == "canceled"
    assert src.qmp.cmd("query-status")["status"] == "running"
    ok(src.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    assert src.quit() == 0


def test_destination_killed_mid_way(make_vm, sockdir):
    src, dst, uri = start_pair(make_vm, sockdir, "unix")
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    src.qmp.cmd("migrate-set-capabilities", **{"capabilities": [{"capability": "events", "state": True}]})
    src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 4 * MIB})
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    time.sleep(0.5)
    dst.kill()
    info = wait_status(src, ("failed", "completed"), timeout=60)
    assert info["status"] == "failed", info
    assert info.get("error-desc"), info
    statuses = [e["data"]["status"] for e in src.qmp.events if e["event"] == "MIGRATION"]
    assert statuses == ["active", "failed"], statuses
    assert src.qmp.cmd("query-status")["status"] == "running"
    ok(src.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    assert src.quit() == 0


@pytest.mark.parametrize("dst_kw,words", [
    ({"mem": "512M"}, "-m asks for 512"),
    ({"smp": 2}, "-smp asks for 2"),
    ({"extra_args": ["-device", "pvpanic,id=pp"]}, "devices differ"),
])
def test_mismatched_destination(make_vm, sockdir, dst_kw, words):
    src = make_vm()
    src.boot()
    uri = uri_for("unix", sockdir)
    kw = dict(dst_kw)
    kw["extra_args"] = list(kw.get("extra_args", [])) + ["-incoming", uri]
    dst = make_vm(**kw)
    dst.launch()
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    info = wait_status(src, ("failed", "completed"), timeout=60)
    assert info["status"] == "failed" and words in info["error-desc"], info
    assert dst.wait(30) == 1
    lines = [l for l in dst.stderr_text().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("stratus: error: "), lines
    assert words in lines[0], lines
    assert src.qmp.cmd("query-status")["status"] == "running"
    ok(src.run("echo still here"))
    assert src.quit() == 0


def test_migration_events_and_illegal_transitions(make_vm, sockdir):
    src, dst, uri = start_pair(make_vm, sockdir, "unix", src_kw={"extra_args": ["-no-shutdown"]})
    src.qmp.cmd("migrate-set-capabilities", **{"capabilities": [{"capability": "events", "state": True}]})
    assert src.qmp.cmd("query-migrate-capabilities") == [
        {"capability": "events", "state": True}]
    # 16 MiB at 1 MiB/s: still active while the illegal requests are made.
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": MIB})
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    resp = src.qmp.execute("migrate", {"uri": uri})
    assert resp["error"]["desc"] == "Failed to transfer migration status from active to active.", resp
    resp = src.qmp.execute("migrate-set-capabilities",
                           {"capabilities": [{"capability": "events", "state": False}]})
    assert resp["error"]["desc"] == "There's a migration process in progress", resp
    # The migration holds the dirty log until its thread ends.
    resp = src.qmp.execute("calc-dirty-rate", {"calc-time": 1})
    assert resp["error"]["desc"] == "the dirty rate cannot be measured during a migration", resp
    src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 0})
    wait_status(src, ("completed", "failed"))
    statuses = [e["data"]["status"] for e in src.qmp.events if e["event"] == "MIGRATION"]
    assert statuses == ["active", "completed"], statuses
    # The thread sets completed and gives the log back under one hold of the lock.
    assert src.qmp.execute("calc-dirty-rate", {"calc-time": 1}) == {"return": {}}
    dst.qmp.wait_event("RESUME", timeout=60)
    assert src.quit() == 0 and dst.quit() == 0


def test_destination_frozen_with_S(make_vm, sockdir):
    src, dst, uri = start_pair(make_vm, sockdir, "unix", dst_kw={"freeze": True})
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    assert src.wait(120) == 0
    wait_status(dst, ("completed",))
    assert dst.qmp.cmd("query-status")["status"] == "paused"
    dst.qmp.cmd("cont")
    assert ok(dst.run("echo thawed")).get("text") == "thawed"
    assert dst.quit() == 0


def test_migrate_errors(make_vm, sockdir):
    vm = make_vm()
    vm.boot()
    for uri, words in [("tcp:127.0.0.1:1", "Failed to connect"),
                       ("unix:%s/none.sock" % sockdir, "Failed to connect"),
                       ("tcp:nohost:12", "not an IPv4 address"),
                       ("tcp:127.0.0.1", "expected tcp:"),
                       ("unix:", "path")]:
        resp = vm.qmp.execute("migrate", {"uri": uri})
        assert resp["error"]["class"] == "GenericError", resp
        assert words in resp["error"]["desc"], resp
    assert vm.qmp.cmd("query-migrate") == {"status": "setup"}
    assert vm.qmp.execute("migrate_cancel") == {"return": {}}
    assert vm.qmp.cmd("query-migrate") == {"status": "setup"}
    assert vm.qmp.cmd("query-status")["status"] == "running"


def image_locked(path):
    """True when another process holds an OFD lock on path (a write lock test)."""
    import fcntl
    import struct
    fl = struct.pack("hhxxxxqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_OFD_SETLK", 37), fl)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def disk_vm_args(tmp_path):
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(8 * MIB)
    return disk, ["-drive", "id=d0,file=%s" % disk,
                  "-device", "virtio-blk-device,drive=d0,id=disk0"]


def test_image_lock_moves_with_the_guest(make_vm, sockdir, tmp_path):
    disk, args = disk_vm_args(tmp_path)
    src, dst, uri = start_pair(make_vm, sockdir, "unix", src_kw={"extra_args": args},
                               dst_kw={"extra_args": args})
    assert image_locked(disk)
    ok(src.run("blk write 0 0 256 %d" % SEED))
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    src.qmp.wait_event("SHUTDOWN", timeout=120)
    assert src.wait(30) == 0
    dst.qmp.wait_event("RESUME", timeout=60)
    assert image_locked(disk)             # now the destination's
    ok(dst.run("blk verify 0 0 256 %d" % SEED))
    ok(dst.run("blk write 0 512 64 %d" % (SEED + 1)))
    ok(dst.run("blk verify 0 512 64 %d" % (SEED + 1)))
    assert dst.quit() == 0
    assert not image_locked(disk)


def test_failed_migration_keeps_the_source_lock(make_vm, sockdir, tmp_path):
    disk, args = disk_vm_args(tmp_path)
    src, dst, uri = start_pair(make_vm, sockdir, "unix", src_kw={"extra_args": args},
                               dst_kw={"extra_args": args, "mem": "512M"})
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    assert wait_status(src, ("failed", "completed"))["status"] == "failed"
    assert dst.wait(30) == 1
    assert image_locked(disk)
    ok(src.run("blk write 0 0 16 %d" % SEED))
    ok(src.run("blk verify 0 0 16 %d" % SEED))
    assert src.quit() == 0



def test_non_converging_guest_stops_after_30_rounds(make_vm, sockdir):
    """downtime-limit 0 is never met while the guest keeps writing: after 30
    pre-copy rounds the VM is stopped anyway and the migration completes."""
    src, dst, uri = start_pair(make_vm, sockdir, "unix", src_kw={"extra_args": ["-no-shutdown"]})
    base = pattern_base(src)
    passes = churn_passes(src, base, MIB, 12.0, 2000)
    # 8 MiB/s: a round of the 1 MiB region takes ~125 ms, in which the guest rewrites it all.
    src.qmp.cmd("migrate-set-parameters", **{"downtime-limit": 0, "max-bandwidth": 8 * MIB})
    src.console.write("mem churn %d 0x%x 0x%x %d\n" % (passes, base, MIB, SEED))
    src.console.read_until("mem churn", timeout=10)
    time.sleep(0.2)
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    info = wait_status(src, ("completed", "failed"))
    assert info["status"] == "completed", info
    # First pass, then a sync per round 0..30, then the final one.
    assert info["ram"]["dirty-sync-count"] == 32, info
    # The guest was still churning when the source stopped: it finishes on the destination.
    assert "churned=" not in src.console.drain(), "the churn ended before the migration"
    dst.qmp.wait_event("RESUME", timeout=60)
    dst.console.read_until(r"churned=%d" % passes, timeout=300)
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, MIB, SEED)))
    assert src.quit() == 0 and dst.quit() == 0


def test_destination_quits_while_waiting(make_vm, sockdir):
    """quit before any source connected: a clean exit, nothing on stderr."""
    uri = uri_for("unix", sockdir)
    dst = make_vm(extra_args=["-incoming", uri])
    dst.launch()
    assert dst.qmp.cmd("query-migrate") == {
        "status": "setup", "socket-address": [{"path": uri[5:], "type": "unix"}]}
    assert dst.quit() == 0
    assert dst.stderr_text() == ""


def host_pattern(seed, offset, length):
    """What `blk write <dev> offset/512 length/512 seed` puts on a disk."""
    from test_block import pattern
    return pattern(seed, offset, length)


def test_live_migration_under_block_load_on_two_vcpus(make_vm, sockdir, tmp_path):
    """Once the first pass has sent the first half of the memory pattern
    (and before it ends: max-bandwidth drops to 256 KiB/s then), both vCPUs
    rewrite that half with another seed (`smp churn`: only the dirty log
    can bring these pages over again), the guest writes a block pattern to
    one disk, and a random-write benchmark on a second disk is in flight
    when the source stops. On the destination the benchmark finishes, both
    halves of the memory and the disk pattern check, the disk takes new
    writes; after quit the image holds what the guest wrote. Lowering
    max-bandwidth mid-way does not charge the bytes sent before at the new
    rate (the destination would time out)."""
    half = PATTERN_LEN // 2
    disks = [tmp_path / "a.img", tmp_path / "b.img"]
    args = []
    for i, d in enumerate(disks):
        with open(d, "wb") as f:
            f.truncate(8 * MIB)
        args += ["-drive", "id=d%d,file=%s" % (i, d),
                 "-device", "virtio-blk-device,drive=d%d,id=disk%d" % (i, i)]
    kw = {"smp": 2, "extra_args": args}
    src, dst, uri = start_pair(make_vm, sockdir, "unix", src_kw=kw, dst_kw=kw)
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 8 * MIB})
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    # The first pass goes up in guest-physical order: wait until it is past the first half.
    deadline = time.monotonic() + 120
    while True:
        info = src.qmp.cmd("query-migrate")
        assert info["status"] == "active", info
        if info["ram"]["remaining"] <= info["ram"]["total"] - (base + half):
            break
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 256 * 1024})
    info = src.qmp.cmd("query-migrate")
    assert info["ram"]["dirty-sync-count"] == 0, info       # still in the first pass
    r = ok(src.run("smp churn 2 0x%x 0x%x %d" % (base, half, SEED + 2), timeout=120))
    assert r.get("cpus") == "2", r
    ok(src.run("blk write 0 0 2048 %d" % SEED))
    ok(src.run("blk verify 0 0 2048 %d" % SEED))
    assert src.qmp.cmd("query-migrate")["status"] == "active"
    src.console.write("blk bench 1 rand write 4096 4 3000\n")
    src.console.read_until("blk bench 1", timeout=10)
    time.sleep(0.5)
    src.qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 0})
    src.qmp.wait_event("SHUTDOWN", timeout=120)
    assert src.wait(30) == 0
    dst.qmp.wait_event("RESUME", timeout=60)
    dst.console.read_until(r"iops=\d+", timeout=60)
    dst.console.wait_prompt(timeout=30)
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, half, SEED + 2)))
    ok(dst.run("mem check 0x%x 0x%x %d" % (base + half, half, SEED)))
    ok(dst.run("blk verify 0 0 2048 %d" % SEED))
    r = ok(dst.run("smp churn 2 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED + 1)))
    assert r.get("cpus") == "2", r
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED + 1)))
    ok(dst.run("blk write 0 4096 256 %d" % (SEED + 1)))
    assert dst.quit() == 0
    with open(disks[0], "rb") as f:
        assert f.read(1 * MIB) == host_pattern(SEED, 0, 1 * MIB)
        f.seek(4096 * 512)
        assert f.read(128 * 1024) == host_pattern(SEED + 1, 4096 * 512, 128 * 1024)


def test_incoming_defer_then_migrate_incoming(make_vm, sockdir):
    """QEMU's -incoming defer: the destination waits in inmigrate without an
    address until migrate-incoming; the source then migrates to it."""
    src = make_vm()
    src.boot()
    dst = make_vm(extra_args=["-incoming", "defer"])
    dst.launch()
    assert dst.qmp.cmd("query-status")["status"] == "inmigrate"
    uri = uri_for("unix", sockdir)
    resp = src.qmp.execute("migrate", {"uri": uri})
    assert "Failed to connect" in resp["error"]["desc"], resp    # nothing listens yet
    assert dst.qmp.execute("migrate-incoming", {"uri": uri}) == {"return": {}}
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    assert src.qmp.execute("migrate", {"uri": uri}) == {"return": {}}
    assert src.wait(120) == 0
    dst.qmp.wait_event("RESUME", timeout=60)
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    resp = dst.qmp.execute("migrate-incoming", {"uri": uri})
    assert resp["error"]["desc"] == "The incoming migration has already been started", resp
    assert dst.quit() == 0


@pytest.mark.parametrize("incoming", ["unix", "none"])
def test_migrate_incoming_without_defer(make_vm, sockdir, incoming):
    """QEMU 7.2's answers: an -incoming address on the command line means the
    incoming migration has started; no -incoming at all is named."""
    extra = ["-incoming", uri_for("unix", sockdir)] if incoming == "unix" else []
    vm = make_vm(extra_args=extra)
    if incoming == "unix":
        vm.launch()
    else:
        vm.boot()
    resp = vm.qmp.execute("migrate-incoming", {"uri": uri_for("unix", sockdir) + "2"})
    want = ("The incoming migration has already been started" if incoming == "unix" else
            "'-incoming' was not specified on the command line")
    assert resp["error"] == {"class": "GenericError", "desc": want}, resp
    assert vm.quit() == 0
