"""Snapshots on the test guest (docs/migration.md, src/migration/): QMP
`migrate file:<dir>` and `-incoming file:<dir>[,mapped=...]`.

* A busy guest (2 vCPUs, a memory pattern, virtio-blk writes in flight on a
  second disk) is snapshotted and restored in a new process: the interrupted
  disk benchmark finishes, the shell answers, the memory pattern and the
  disk data are intact, the disk takes new writes, both CPUs still take part
  in `smp xadd` (LAPICs and IPIs), QMP answers.
* Both vCPUs rewriting memory (`smp churn`) while the snapshot is taken:
  the restored guest finishes the job, the memory checks.
* Two VMs restored at once from one directory share the image copy-on-write:
  what one writes the other does not see.
* mapped=off reads the image in; -S restores paused until `cont`.
* Every bad snapshot and mismatched command line: one `stratus: error:` line,
  exit 1. Every QMP and command-line error of migrate / -incoming.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from stratus_vm import parse_info
from test_cmdline import check_error_exit

MIB = 1 << 20
DISK_SIZE = 8 * MIB
PATTERN_LEN = 16 * MIB
SEED = 0x5A17


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


@pytest.fixture
def snapdir(tmp_path):
    d = tmp_path / "snap"
    yield d
    shutil.rmtree(d, ignore_errors=True)


def make_disk(tmp_path, name):
    p = tmp_path / name
    with open(p, "wb") as f:
        f.truncate(DISK_SIZE)
    return p


def disk_args(*imgs):
    a = []
    for i, img in enumerate(imgs):
        a += ["-drive", "id=d%d,file=%s" % (i, img),
              "-device", "virtio-blk-device,drive=d%d,id=disk%d" % (i, i)]
    return a


def pattern_base(vm):
    return parse_info(ok(vm.run("info")))["ram_free"][0]["base"]


def snapshot(vm, d, running=True):
    """migrate file:d; a running VM stops first (STOP before the reply)."""
    resp = vm.qmp.execute("migrate", {"uri": "file:%s" % d})
    assert resp == {"return": {}}, resp
    if running:
        received = [t for w, t in vm.qmp.transcript if w == "<"]
        assert '"event":"STOP"' in received[-2], received[-2:]
    assert vm.qmp.cmd("query-status")["status"] == "paused"
    assert vm.qmp.cmd("query-migrate") == {"status": "completed"}
    assert sorted(os.listdir(d)) == ["memory", "state"]


def restore(make_vm, d, extra=(), **kw):
    vm = make_vm(extra_args=list(kw.pop("extra_args", [])) + ["-incoming", "file:%s" % d] +
                 list(extra), **kw)
    vm.launch()
    return vm


def test_snapshot_busy_guest_restores(make_vm, tmp_path, snapdir):
    disks = [make_disk(tmp_path, "a.img"), make_disk(tmp_path, "b.img")]
    args = dict(smp=2, extra_args=disk_args(*disks))
    src = make_vm(**args)
    src.boot()
    assert src.qmp.cmd("query-migrate") == {"status": "setup"}
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    ok(src.run("blk write 0 0 2048 %d" % SEED))
    # Writes in flight on the second disk while the snapshot is taken.
    src.console.write("blk bench 1 rand write 4096 4 3000\n")
    src.console.read_until("blk bench 1", timeout=10)
    time.sleep(1.0)
    snapshot(src, snapdir)
    assert src.quit() == 0

    dst = restore(make_vm, snapdir, **args)
    dst.console.read_until(r"iops=\d+", timeout=60)
    assert dst.qmp.cmd("query-status")["status"] == "running"
    assert dst.qmp.cmd("query-migrate") == {"status": "completed"}
    assert len(dst.qmp.cmd("query-cpus")) == 2
    assert ok(dst.run("echo restored")).get("text") == "restored"
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    ok(dst.run("blk verify 0 0 2048 %d" % SEED))
    ok(dst.run("blk write 0 4096 256 %d" % (SEED + 1)))
    ok(dst.run("blk verify 0 4096 256 %d" % (SEED + 1)))
    info = dst.info()
    assert (info["cpus"], info["online"]) == (2, 2)
    r = ok(dst.run("smp xadd 1000"))
    assert r.get("cpus") == "2" and r.get("counter") == r.get("expected"), r
    assert dst.quit() == 0
    with open(disks[0], "rb") as f:
        assert f.read(8) != b"\0" * 8      # the guest's writes reached the image


def test_snapshot_while_two_vcpus_write_memory(make_vm, snapdir):
    """Both vCPUs rewrite their halves of a region (`smp churn`) while the
    snapshot is taken: the restored guest finishes the job on both CPUs and
    the region holds the pattern."""
    src = make_vm(smp=2)
    src.boot()
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    src.console.write("smp churn 200 0x%x 0x%x %d\n" % (base, 4 * MIB, SEED + 3))
    src.console.read_until("smp churn", timeout=10)
    time.sleep(0.5)
    snapshot(src, snapdir)
    late = src.console.expect_silence(0.5)
    assert "churned" not in src.console.buf + late   # paused mid-job: no answer yet
    assert src.quit() == 0

    dst = restore(make_vm, snapdir, smp=2)
    dst.console.read_until(r"churned=200 cpus=2", timeout=120)
    dst.console.wait_prompt(timeout=30)
    ok(dst.run("mem check 0x%x 0x%x %d" % (base, 4 * MIB, SEED + 3)))
    ok(dst.run("mem check 0x%x 0x%x %d" % (base + 4 * MIB, PATTERN_LEN - 4 * MIB, SEED)))
    assert dst.quit() == 0


def idle_snapshot(make_vm, snapdir, **kw):
    """Boots, writes the pattern, snapshots; returns the pattern's base."""
    src = make_vm(**kw)
    src.boot()
    base = pattern_base(src)
    ok(src.run("mem fill 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    snapshot(src, snapdir)
    assert src.quit() == 0
    return base


def test_two_concurrent_restores_share_the_template(make_vm, snapdir):
    base = idle_snapshot(make_vm, snapdir)
    a = restore(make_vm, snapdir)
    b = restore(make_vm, snapdir)
    ok(a.run("mem fill 0x%x 0x1000 %d" % (base, SEED + 7)))
    ok(b.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))
    ok(a.run("mem check 0x%x 0x1000 %d" % (base, SEED + 7)))
    for vm in (a, b):
        assert vm.qmp.cmd("query-migrate") == {"status": "completed"}
        assert vm.quit() == 0
    # The template itself is untouched by its clones.
    c = restore(make_vm, snapdir)
    ok(c.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))


@pytest.mark.parametrize("mapped", ["off", "false", "on", "true"])
def test_restore_mapped_option(make_vm, snapdir, mapped):
    base = idle_snapshot(make_vm, snapdir)
    vm = make_vm(extra_args=["-incoming", "file:%s,mapped=%s" % (snapdir, mapped)])
    vm.launch()
    ok(vm.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))


def test_restore_logs_its_duration(make_vm, snapdir, tmp_path):
    """The -D line scripts/bench/migrate reads (the figure is not asserted)."""
    idle_snapshot(make_vm, snapdir)
    for mapped, frozen in [("on", False), ("off", True)]:
        log = tmp_path / ("restore-%s.log" % mapped)
        vm = make_vm(log_file=log, freeze=frozen,
                     extra_args=["-incoming", "file:%s,mapped=%s" % (snapdir, mapped)])
        vm.launch()
        assert vm.quit() == 0
        lines = [l for l in vm.log_text().splitlines() if "restore: " in l]
        assert len(lines) == 1, lines
        assert re.search(r"restore: \d+ us from opening the snapshot to the vCPUs %s "
                         r"\(\d+ us in the snapshot files, mapped=%s\)"
                         % ("frozen \\(-S\\)" if frozen else "running", mapped),
                         lines[0]), lines


def test_restore_frozen_until_cont(make_vm, snapdir):
    base = idle_snapshot(make_vm, snapdir)
    vm = restore(make_vm, snapdir, freeze=True)
    assert vm.qmp.cmd("query-status")["status"] == "paused"
    vm.console.write("echo early\n")
    vm.console.expect_silence(1.0)
    assert vm.qmp.cmd("cont") == {}
    vm.console.read_until("text=early", timeout=20)
    resp = vm.qmp.execute("migrate-incoming", {"uri": "unix:/nonexistent/x.sock"})
    assert resp["error"]["desc"] == "The incoming migration has already been started", resp
    ok(vm.run("mem check 0x%x 0x%x %d" % (base, PATTERN_LEN, SEED)))


def test_snapshot_of_paused_vm_and_again(make_vm, snapdir, tmp_path):
    """The seeds' order (stop, then migrate): no second STOP; a second
    snapshot of the same VM (completed -> active) replaces the files."""
    vm = make_vm()
    vm.boot()
    assert vm.qmp.cmd("stop") == {}
    snapshot(vm, snapdir, running=False)
    first = (snapdir / "state").read_bytes()
    snapshot(vm, snapdir, running=False)
    assert (snapdir / "state").read_bytes() != first    # a new snapshot id
    assert not [e for e in vm.qmp.events if e["event"] == "RESUME"]


# ---------------------------------------------------------------------------
# errors

def test_qmp_migrate_errors(make_vm, tmp_path):
    vm = make_vm()
    vm.boot()
    for uri, words in [("exec:cat", "expected file:"),
                       ("file:", "directory is missing")]:
        resp = vm.qmp.execute("migrate", {"uri": uri})
        assert resp["error"]["class"] == "GenericError", resp
        assert words in resp["error"]["desc"], resp
    resp = vm.qmp.execute("migrate", {"uri": "file:%s" % tmp_path, "blk": True})
    assert "not supported" in resp["error"]["desc"], resp
    resp = vm.qmp.execute("migrate", {})
    assert resp["error"]["class"] == "GenericError", resp
    # None of these started a snapshot.
    assert vm.qmp.cmd("query-migrate") == {"status": "setup"}
    assert vm.qmp.cmd("query-status")["status"] == "running"

    # A directory that cannot be created: failed, the VM runs again, the cause named.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    resp = vm.qmp.execute("migrate", {"uri": "file:%s/sub" % blocker})
    assert resp["error"]["class"] == "GenericError", resp
    assert str(blocker) in resp["error"]["desc"], resp
    names = [e["event"] for e in vm.qmp.events]
    assert names[-2:] == ["STOP", "RESUME"], names
    assert vm.qmp.cmd("query-migrate") == {"status": "failed"}
    assert vm.qmp.cmd("query-status")["status"] == "running"
    ok(vm.run("echo alive"))
    # failed -> active is allowed: the next one works.
    snapshot(vm, tmp_path / "ok")


@pytest.fixture
def good_snapshot(make_vm, tmp_path):
    d = tmp_path / "good"
    idle_snapshot(make_vm, d, extra_args=["-device", "pvpanic,id=pp"])
    return d


def bad_copy(src, tmp_path, name, state=None, memory=None):
    d = tmp_path / name
    shutil.copytree(src, d)
    if state:
        (d / "state").write_bytes(state((d / "state").read_bytes()))
    if memory:
        memory(d / "memory")
    return d


def flip(data, at):
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]


def truncate_memory(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 4096)


def test_bad_snapshots_refused(make_vm, good_snapshot, tmp_path, stratus, bzimage, accel):
    other = tmp_path / "other"
    idle_snapshot(make_vm, other, extra_args=["-device", "pvpanic,id=pp"])
    cases = [
        ("missing", tmp_path / "nothing", {}, ["state", "no such file"]),
        ("truncated-state", bad_copy(good_snapshot, tmp_path, "t",
                                     state=lambda b: b[:len(b) // 2]), {}, ["truncated"]),
        ("empty-state", bad_copy(good_snapshot, tmp_path, "e", state=lambda b: b""), {},
         ["truncated"]),
        ("corrupt-state", bad_copy(good_snapshot, tmp_path, "c",
                                   state=lambda b: flip(b, len(b) - 5)), {}, ["checksum"]),
        ("newer-version", bad_copy(good_snapshot, tmp_path, "v",
                                   state=lambda b: b[:16] + b"\x02" + b[17:]), {},
         ["newer"]),
        ("not-a-snapshot", bad_copy(good_snapshot, tmp_path, "n",
                                    state=lambda b: b"hello" * 20), {}, ["not a stratus"]),
        ("truncated-memory", bad_copy(good_snapshot, tmp_path, "tm", memory=truncate_memory),
         {}, ["memory", "truncated"]),
        ("other-memory", bad_copy(good_snapshot, tmp_path, "om",
                                  memory=lambda p: shutil.copy(other / "memory", p)), {},
         ["another snapshot"]),
        ("mem-size", good_snapshot, {"mem": "512M"}, ["-m"]),
        ("cpu-count", good_snapshot, {"smp": 2}, ["-smp"]),
        ("device-set", good_snapshot, {"extra_args": []}, ["devices differ"]),
        ("device-extra", good_snapshot,
         {"extra_args": ["-device", "pvpanic,id=pp", "-object", "rng-random,id=r0",
                        "-device", "virtio-rng-device,rng=r0"]},
         ["devices differ"]),
    ]
    for name, d, override, words in cases:
        kw = {"extra_args": ["-device", "pvpanic,id=pp"]}
        kw.update(override)
        vm = make_vm(**kw)
        argv = vm.build_args() + ["-incoming", "file:%s" % d]
        check_error_exit(argv, words)


@pytest.mark.parametrize("value,words", [
    ("tcp:", ["-incoming", "address"]),
    ("unix:", ["-incoming", "address"]),
    ("exec:cat x", ["-incoming", "unsupported uri"]),
    ("file:", ["-incoming", "directory"]),
    ("file:/tmp/x,mapped=maybe", ["mapped=", "maybe"]),
    ("file:/tmp/x,size=1", ["unknown parameter", "size"]),
])
def test_incoming_option_errors(make_vm, value, words):
    vm = make_vm()
    check_error_exit(vm.build_args() + ["-incoming", value], words)
