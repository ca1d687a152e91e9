"""Block devices on the test guest: -drive/-device virtio-blk-device, every aio
engine with direct on and off, read-only disks, QMP hot-replace (blockdev-add,
device_add, device_del, blockdev-del, query-block, query-named-block-nodes) with
every error, image locking between two VMMs, durability of flushed data across
SIGKILL, and a replay of the block/device golden transcripts.

Images live under /var/tmp (STRATUS_IMG_DIR overrides): /tmp may be a tmpfs
where O_DIRECT fails.  The guest's data pattern (docs/guest-shell.md) is
recomputed here: the 64-bit LE word at disk byte offset O is
splitmix64(seed ^ O).
"""

import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

import test_golden as tg
from stratus_vm import short_tmpdir

MASK = (1 << 64) - 1
IMG_SIZE = 64 << 20
SECTORS = IMG_SIZE // 512
AIO_ENGINES = ["native", "io_uring", "threads", "off"]


# ---------------------------------------------------------------------------
# helpers

def splitmix64(z):
    z = (z + 0x9e3779b97f4a7c15) & MASK
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def pattern(seed, offset, length):
    """The bytes `blk write <dev> offset/512 length/512 seed` puts on the disk."""
    n = length // 8
    return struct.pack("<%dQ" % n, *[splitmix64(seed ^ (offset + 8 * i)) for i in range(n)])


def read_host(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def make_image(d, name, size=IMG_SIZE):
    p = Path(d) / name
    with open(p, "wb") as f:
        f.truncate(size)
    return p


@pytest.fixture
def imgdir():
    base = os.environ.get("STRATUS_IMG_DIR", "/var/tmp")
    d = tempfile.mkdtemp(prefix="stratus-blk-", dir=base)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def blk_lines(reply):
    """{index: kv} from `blk list` / `blk rescan`."""
    out = {}
    for tag, kv in reply.records:
        if tag == "blk" and "index" in kv:
            out[int(kv["index"])] = kv
    return out


def qerr(vm, cmd, args=None):
    """Executes cmd expecting an error; returns (class, desc)."""
    r = vm.qmp.execute(cmd, args)
    assert "error" in r, "%s %r should fail, got %r" % (cmd, args, r)
    return r["error"]["class"], r["error"]["desc"]


def qok(vm, cmd, args=None):
    r = vm.qmp.execute(cmd, args)
    assert r == {"return": {}}, "%s %r -> %r" % (cmd, args, r)


def blockdev_add(vm, node, path, aio=None, direct=True, ro=False, **extra):
    file = {"driver": "file", "filename": str(path)}
    if aio:
        file["aio"] = aio
    args = {"node-name": node, "file": file, "cache": {"direct": direct}, "read-only": ro}
    args.update(extra)
    qok(vm, "blockdev-add", args)


def device_del(vm, dev_id):
    """device_del; checks DEVICE_DELETED {"device","path"} arrives BEFORE the reply."""
    qok(vm, "device_del", {"id": dev_id})
    received = [t for d, t in vm.qmp.transcript if d == "<"]
    assert '"event":"DEVICE_DELETED"' in received[-2], received[-2:]
    ev = vm.qmp.wait_event("DEVICE_DELETED", timeout=1)
    assert ev["data"] == {"device": dev_id, "path": dev_id}


def drive_vm(make_vm, img, node="d0", dev="disk0", opts="", serial=None, **kw):
    dev_opts = "virtio-blk-device,drive=%s,id=%s" % (node, dev)
    if serial:
        dev_opts += ",serial=" + serial
    args = ["-drive", "id=%s,file=%s%s" % (node, img, opts), "-device", dev_opts]
    return make_vm(extra_args=args + list(kw.pop("extra_args", [])), **kw)


# ---------------------------------------------------------------------------
# data path: every engine, direct on/off; the host file holds what the guest wrote

@pytest.mark.parametrize("direct", ["on", "off"])
@pytest.mark.parametrize("aio", AIO_ENGINES)
def test_write_quit_host_checksum(make_vm, imgdir, aio, direct):
    img = make_image(imgdir, "disk.img")
    vm = drive_vm(make_vm, img, opts=",aio=%s,direct=%s" % (aio, direct),
                  serial="ser-%s" % aio)
    vm.boot()
    d = blk_lines(ok(vm.run("blk list")))[0]
    assert d["state"] == "ok" and int(d["capacity"]) == SECTORS and d["ro"] == "0"
    assert d["serial"] == "ser-%s" % aio
    seed, sector, count = 0x5eed + len(aio), 100, 2048
    ok(vm.run("blk write 0 %d %d %d" % (sector, count, seed)))
    # an unaligned-to-4K write (bounce/RMW path with direct=on) next to it
    ok(vm.run("blk write 0 %d 3 %d" % (sector + count + 1, seed + 1)))
    ok(vm.run("blk verify 0 %d %d %d" % (sector, count, seed)))
    exp = pattern(seed, sector * 512, count * 512)
    r = ok(vm.run("blk read 0 %d %d" % (sector, count)))
    assert int(r.get("crc32"), 16) == zlib.crc32(exp)
    ok(vm.run("blk flush 0"))
    st = vm.qmp.execute("query-block")["return"]
    assert st[0]["inserted"]["cache"]["direct"] == (direct == "on")
    assert vm.quit() == 0
    assert read_host(img, sector * 512, count * 512) == exp
    assert read_host(img, (sector + count + 1) * 512, 3 * 512) == \
        pattern(seed + 1, (sector + count + 1) * 512, 3 * 512)
    assert read_host(img, 0, sector * 512) == bytes(sector * 512)
    assert read_host(img, (sector + count) * 512, 512) == bytes(512)


def test_host_data_visible_to_guest(make_vm, imgdir):
    """Host-written pattern reads back in the guest (md5 and verify)."""
    img = make_image(imgdir, "disk.img")
    data = pattern(77, 4096, 65536)
    with open(img, "r+b") as f:
        f.seek(4096)
        f.write(data)
    vm = drive_vm(make_vm, img)
    vm.boot()
    ok(vm.run("blk verify 0 8 128 77"))
    import hashlib
    assert ok(vm.run("blk md5 0 8 128")).get("md5") == hashlib.md5(data).hexdigest()
    assert vm.quit() == 0


# ---------------------------------------------------------------------------
# read-only

def test_readonly_disk_rejects_writes(make_vm, imgdir):
    img = make_image(imgdir, "ro.img")
    data = pattern(9, 0, 1 << 20)
    with open(img, "r+b") as f:
        f.write(data)
    vm = drive_vm(make_vm, img, opts=",readonly=on")
    vm.boot()
    d = blk_lines(ok(vm.run("blk list")))[0]
    assert d["ro"] == "1", d
    r = vm.run("blk write 0 0 8 1")
    assert r.status == "error" and r.msg == "read-only", r
    r = vm.run("blk write 0 0 8 1 nocheck")          # the device itself refuses
    assert r.status == "error" and r.msg == "ioerr", r
    r = vm.run("blk zero 0 0 8 nocheck")
    assert r.status == "error" and r.msg == "ioerr", r
    ok(vm.run("blk verify 0 0 2048 9"))
    info = vm.qmp.execute("query-block")["return"][0]["inserted"]
    assert info["ro"] is True
    assert vm.quit() == 0
    assert read_host(img, 0, 1 << 20) == data


def test_hotplugged_readonly_disk(make_vm, imgdir):
    img = make_image(imgdir, "ro.img")
    vm = make_vm()
    vm.boot()
    blockdev_add(vm, "ro0", img, ro=True)
    qok(vm, "device_add", {"id": "ro0", "driver": "virtio-blk-mmio", "addr": "0x2"})
    lines = blk_lines(ok(vm.run("blk rescan")))
    assert int(lines[2]["capacity"]) == SECTORS
    r = vm.run("blk write 2 0 8 1 nocheck")
    assert r.status == "error" and r.msg == "ioerr", r
    ok(vm.run("blk read 2 0 8"))
    node = vm.qmp.execute("query-named-block-nodes")["return"][0]
    assert node["ro"] is True and node["node-name"] == "ro0"
    assert vm.quit() == 0
    assert read_host(img, 0, 4096) == bytes(4096)


# ---------------------------------------------------------------------------
# hot-replace

@pytest.mark.test_timeout(240)
def test_hotplug_three_disks_ten_times(make_vm, imgdir):
    imgs = [make_image(imgdir, "hp%d.img" % i) for i in range(1, 4)]
    vm = make_vm()
    vm.boot()
    ok(vm.run("blk list"))
    # io_uring hot-plug needs an io_uring drive at start-up (test_seccomp.py)
    engines = [e for e in AIO_ENGINES if e != "io_uring"]
    for it in range(10):
        aio = engines[it % len(engines)]
        for i, img in enumerate(imgs, 1):
            blockdev_add(vm, "drive-%d" % i, img, aio=aio, direct=bool(it % 2 == 0))
            qok(vm, "device_add", {"id": "drive-%d" % i, "driver": "virtio-blk-mmio",
                                   "addr": "0x%x" % i})
        lines = blk_lines(ok(vm.run("blk rescan")))
        assert int(lines[0]["capacity"]) == 0
        for i in range(1, 4):
            assert int(lines[i]["capacity"]) == SECTORS, (it, lines[i])
            assert lines[i]["state"] == "ok"
        qdevs = [b.get("qdev") for b in vm.qmp.execute("query-block")["return"]]
        assert qdevs == ["drive-1", "drive-2", "drive-3"]
        for i in range(1, 4):
            seed = it * 16 + i
            if it:   # the previous iteration's data survived unplug/replug
                ok(vm.run("blk verify %d %d 256 %d" % (i, i * 1000, (it - 1) * 16 + i)))
            ok(vm.run("blk write %d %d 256 %d" % (i, i * 1000, seed)))
            ok(vm.run("blk verify %d %d 256 %d" % (i, i * 1000, seed)))
            ok(vm.run("blk flush %d" % i))
        for i in range(1, 4):
            device_del(vm, "drive-%d" % i)
            # QEMU/libvirt's unplug sequence: the node went with the device
            qok(vm, "blockdev-del", {"node-name": "drive-%d" % i})
        lines = blk_lines(ok(vm.run("blk rescan")))
        for i in range(1, 4):
            assert int(lines[i]["capacity"]) == 0, (it, lines[i])
            r = vm.run("blk read %d 0 8" % i)
            assert r.status == "error" and r.msg == "no-media", r
        assert vm.qmp.execute("query-block")["return"] == []
        assert vm.qmp.execute("query-named-block-nodes")["return"] == []
    assert vm.quit() == 0
    for i, img in enumerate(imgs, 1):
        seed = 9 * 16 + i
        assert read_host(img, i * 1000 * 512, 256 * 512) == \
            pattern(seed, i * 1000 * 512, 256 * 512)


def test_six_disks_lun_mapping_and_seventh(make_vm, imgdir):
    imgs = [make_image(imgdir, "s%d.img" % i, (i + 1) << 20) for i in range(7)]
    vm = make_vm()
    vm.boot()
    for i in range(6):
        # native: an io_uring hot-plug needs an io_uring drive at start-up (test_seccomp.py)
        blockdev_add(vm, "d%d" % i, imgs[i], aio="native")
    qok(vm, "device_add", {"id": "d0", "driver": "virtio-blk-mmio", "addr": "0x0"})
    for i in range(1, 6):   # lun=L is slot L+1
        qok(vm, "device_add", {"id": "d%d" % i, "driver": "virtio-blk-mmio", "lun": i - 1,
                               "serial": "sn%d" % i})
    lines = blk_lines(ok(vm.run("blk rescan")))
    assert len(lines) == 6
    for i in range(6):
        assert int(lines[i]["capacity"]) == ((i + 1) << 20) // 512, lines[i]
    assert ok(vm.run("blk id 3")).get("serial") == "sn3"
    for i in range(6):
        ok(vm.run("blk write %d 0 8 %d" % (i, i)))
    blockdev_add(vm, "d6", imgs[6])
    err = "A maximum of 6 block replaceable devices are supported."
    assert qerr(vm, "device_add", {"id": "d6", "driver": "virtio-blk-mmio",
                                   "addr": "0x6"}) == ("GenericError", err)
    assert qerr(vm, "device_add", {"id": "d6", "driver": "virtio-blk-mmio",
                                   "lun": 5}) == ("GenericError", err)
    assert qerr(vm, "device_add", {"id": "d6", "driver": "virtio-blk-mmio",
                                   "addr": "0x3"}) == \
        ("GenericError", "The slot 3 is occupied already.")
    names = [n["node-name"] for n in vm.qmp.execute("query-named-block-nodes")["return"]]
    assert names == ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]
    # free one slot: the seventh fits there
    device_del(vm, "d3")
    qok(vm, "device_add", {"id": "d6", "driver": "virtio-blk-mmio", "addr": "0x3"})
    lines = blk_lines(ok(vm.run("blk rescan")))
    assert int(lines[3]["capacity"]) == (7 << 20) // 512
    assert vm.quit() == 0
    for i in (0, 1, 2, 4, 5):
        assert read_host(imgs[i], 0, 4096) == pattern(i, 0, 4096)


def test_replace_cmdline_disk(make_vm, imgdir):
    """StratoVirt's flow on a -device disk: device_del frees the slot and the
    image (unlocked), blockdev-add of the same name/file + device_add puts it back."""
    img = make_image(imgdir, "a.img")
    img2 = make_image(imgdir, "b.img", 32 << 20)
    vm = drive_vm(make_vm, img, node="drive-0", dev="drive-0")
    vm.boot()
    ok(vm.run("blk write 0 0 64 3"))
    device_del(vm, "drive-0")
    assert int(blk_lines(ok(vm.run("blk rescan")))[0]["capacity"]) == 0
    blockdev_add(vm, "drive-0", img2)
    qok(vm, "device_add", {"id": "drive-0", "driver": "virtio-blk-mmio", "addr": "0x0"})
    assert int(blk_lines(ok(vm.run("blk rescan")))[0]["capacity"]) == (32 << 20) // 512
    device_del(vm, "drive-0")
    blockdev_add(vm, "drive-0", img)      # the first image again: its lock was released
    qok(vm, "device_add", {"id": "drive-0", "driver": "virtio-blk-mmio", "addr": "0x0"})
    assert int(blk_lines(ok(vm.run("blk rescan")))[0]["capacity"]) == SECTORS
    ok(vm.run("blk verify 0 0 64 3"))
    assert vm.quit() == 0


# ---------------------------------------------------------------------------
# QMP errors (StratoVirt texts; QEMU's for schema violations)

def test_qmp_errors(make_vm, imgdir):
    a = make_image(imgdir, "a.img")
    b = make_image(imgdir, "b.img")
    vm = make_vm()
    vm.boot()
    G = "GenericError"
    blk = {"driver": "virtio-blk-mmio"}

    def file_(p=a, **kw):
        d = {"driver": "file", "filename": str(p)}
        d.update(kw)
        return d

    cases = [
        # blockdev-add: arguments required, deny_unknown_fields (nested too)
        ("blockdev-add", None, "Parameter 'node-name' is missing"),
        ("blockdev-add", {"node-name": "x"}, "Parameter 'file' is missing"),
        ("blockdev-add", {"node-name": "x", "file": {"driver": "file"}},
         "Parameter 'file.filename' is missing"),
        ("blockdev-add", {"node-name": "x", "file": file_(), "bogus": 1},
         "Parameter 'bogus' is unexpected"),
        ("blockdev-add", {"node-name": "x", "file": file_(bogus=1)},
         "Parameter 'file.bogus' is unexpected"),
        ("blockdev-add", {"node-name": "x", "file": file_(), "cache": {"writeback": True}},
         "Parameter 'cache.writeback' is unexpected"),
        ("blockdev-add", {"node-name": "x", "file": file_(aio="fast")},
         "Parameter 'file.aio' does not accept value 'fast'"),
        ("blockdev-add", {"node-name": "x", "file": file_(), "read-only": "yes"},
         "Invalid parameter type for 'read-only', expected: boolean"),
        ("blockdev-add", {"node-name": "x", "file": file_(), "driver": "qcow2"},
         "format 'qcow2' is not supported yet"),
        ("blockdev-add", {"node-name": "x", "file": file_(), "driver": "vmdk"},
         "Parameter 'driver' does not accept value 'vmdk'"),
        ("blockdev-add", {"node-name": "", "file": file_()}, "Parameter 'node-name' is missing"),
        # device_add
        ("device_add", None, "Parameter 'id' is missing"),
        ("device_add", {"id": "x"}, "Parameter 'driver' is missing"),
        # members other than id/driver/bus/addr/lun are device properties (QEMU's texts)
        ("device_add", dict(blk, id="x", addr="0x1", bogus="1"),
         "Property 'virtio-blk-device.bogus' not found"),
        ("device_add", dict(blk, id="x", addr="0x1", serial=5),
         "Invalid parameter type for 'serial', expected: string"),
        ("device_add", {"id": "x", "driver": "virtio-gpu"},
         "'virtio-gpu' is not a valid device model name"),
        ("device_add", dict(blk, id="nope", addr="0x1"), "Failed to find device configuration."),
        ("device_add", dict(blk, id="nope", drive="nope", addr="0x1"),
         "Failed to find device configuration."),
        # device_del / blockdev-del
        ("device_del", None, "Parameter 'id' is missing"),
        ("device_del", {"id": "nope"}, "Device nope not found"),
        ("device_del", {"id": "x", "bogus": 1}, "Parameter 'bogus' is unexpected"),
        ("blockdev-del", None, "Parameter 'node-name' is missing"),
        ("blockdev-del", {"node-name": "nope"}, "Failed to find node with node-name='nope'"),
    ]
    for cmd, args, desc in cases:
        assert qerr(vm, cmd, args) == (G, desc), (cmd, args)

    # a missing image
    c, d = qerr(vm, "blockdev-add", {"node-name": "m", "file": file_(imgdir / "missing.img")})
    assert d.startswith("Failed to open block file '%s'" % (imgdir / "missing.img")), d

    # StratoVirt's aio spellings are accepted; io_uring's are refused by the
    # default seccomp filter of a VM without an io_uring drive (test_seccomp.py),
    # which shows they were read as io_uring
    for aio in ["iouring", "IoUring"]:
        c, d = qerr(vm, "blockdev-add", {"node-name": "u", "file": file_(b, aio=aio),
                                         "read-only": True})
        assert (c, d.split(" needs ")[0]) == (G, "aio=io_uring"), d
    for i, aio in enumerate(["Native", "Threads", "Off"]):
        blockdev_add(vm, "v%d" % i, b, aio=aio, ro=True)
    for i in range(3):
        qok(vm, "blockdev-del", {"node-name": "v%d" % i})

    blockdev_add(vm, "drive-0", a, aio="native")
    blockdev_add(vm, "drive-1", b)
    assert qerr(vm, "blockdev-add", {"node-name": "drive-0", "file": file_(b)}) == \
        (G, "Drive drive-0 has been added")
    assert qerr(vm, "device_add", dict(blk, id="drive-0", addr="0xz")) == \
        (G, "Invalid addr for device drive-0")
    assert qerr(vm, "device_add", dict(blk, id="drive-0", addr="")) == \
        (G, "Invalid addr for device drive-0")
    assert qerr(vm, "device_add", dict(blk, id="drive-0", addr="0x6")) == \
        (G, "A maximum of 6 block replaceable devices are supported.")
    assert qerr(vm, "device_add", dict(blk, id="drive-0", lun=-1)) == \
        (G, "Parameter 'lun' expects a non-negative integer")
    # a registered type that is not a replaceable slot device (StratoVirt's text)
    assert qerr(vm, "device_add", {"id": "drive-0", "driver": "pvpanic"}) == \
        (G, "Unsupported replaceable device type.")
    qok(vm, "device_add", dict(blk, id="drive-0", addr="0x1"))
    # occupied slot, duplicate id, backend used twice, backend still in use
    assert qerr(vm, "device_add", dict(blk, id="drive-1", addr="0x1")) == \
        (G, "The slot 1 is occupied already.")
    assert qerr(vm, "device_add", dict(blk, id="drive-0", drive="drive-1", addr="0x2")) == \
        (G, "drive-0 is already registered.")
    assert qerr(vm, "device_add", dict(blk, id="other", drive="drive-0", addr="0x2")) == \
        (G, "Drive 'drive-0' is already in use by 'drive-0'")
    assert qerr(vm, "blockdev-del", {"node-name": "drive-0"}) == (G, "Node drive-0 is in use")
    # a net slot without a netdev of that id (StratoVirt's text; docs/net.md)
    assert qerr(vm, "device_add", {"id": "net-0", "driver": "virtio-net-mmio", "addr": "0x0"}) \
        == (G, "Failed to find device configuration.")
    # nothing above changed the state
    qb = vm.qmp.execute("query-block")["return"]
    assert [(x["device"], x.get("qdev")) for x in qb] == [("drive-0", "drive-0"),
                                                           ("drive-1", None)]
    # a failed command has no side effect and emits no event
    assert not vm.qmp.events
    device_del(vm, "drive-0")
    assert qerr(vm, "device_del", {"id": "drive-0"}) == (G, "Device drive-0 not found")
    qok(vm, "blockdev-del", {"node-name": "drive-0"})   # released by device_del
    assert qerr(vm, "blockdev-del", {"node-name": "drive-0"}) == \
        (G, "Failed to find node with node-name='drive-0'")
    # device_del of an unattached node removes it (StratoVirt), blockdev-del too
    device_del(vm, "drive-1")
    blockdev_add(vm, "drive-1", b)
    qok(vm, "blockdev-del", {"node-name": "drive-1"})
    assert vm.qmp.execute("query-named-block-nodes")["return"] == []
    assert vm.quit() == 0


def test_query_block_shapes(make_vm, imgdir):
    a = make_image(imgdir, "a.img")
    b = make_image(imgdir, "b.img", 8 << 20)
    c = make_image(imgdir, "c.img", 4 << 20)
    vm = drive_vm(make_vm, a, node="d0", dev="disk0", opts=",direct=off,aio=threads")
    vm.boot()
    blockdev_add(vm, "hp", b, aio="native")
    qok(vm, "device_add", {"id": "hpdev", "driver": "virtio-blk-mmio", "drive": "hp",
                           "addr": "0x4"})
    blockdev_add(vm, "spare", c, ro=True, cache={"direct": False, "no-flush": True})
    qb = vm.qmp.execute("query-block")["return"]
    info_keys = ["backing_file_depth", "bps", "bps_rd", "bps_wr", "cache", "detect_zeroes",
                 "drv", "encrypted", "file", "image", "iops", "iops_rd", "iops_wr",
                 "node-name", "ro", "write_threshold"]
    assert [(x["device"], x.get("qdev")) for x in qb] == \
        [("d0", "disk0"), ("hp", "hpdev"), ("spare", None)]
    for x in qb:
        assert x["type"] == "unknown" and x["removable"] is False and x["locked"] is False
        assert x["io-status"] == "ok"
        assert sorted(x["inserted"].keys()) == info_keys
    d0, hp, spare = (x["inserted"] for x in qb)
    assert d0["file"] == str(a) and d0["drv"] == "raw" and d0["ro"] is False
    assert d0["cache"] == {"direct": False, "no-flush": False, "writeback": True}
    assert d0["image"]["virtual-size"] == IMG_SIZE and d0["image"]["format"] == "raw"
    assert d0["image"]["filename"] == str(a)
    assert hp["node-name"] == "hp" and hp["image"]["virtual-size"] == 8 << 20
    assert hp["cache"]["direct"] is True
    assert spare["ro"] is True and spare["cache"] == {"direct": False, "no-flush": True,
                                                      "writeback": True}
    nodes = vm.qmp.execute("query-named-block-nodes")["return"]
    assert [n["node-name"] for n in nodes] == ["d0", "hp", "spare"]
    assert nodes == [x["inserted"] for x in qb]
    # lenient like StratoVirt's probe commands; flat is QEMU's argument
    assert vm.qmp.execute("query-block", {"x": 1})["return"] == qb
    assert vm.qmp.execute("query-named-block-nodes", {"flat": True})["return"] == nodes
    # raw wire: keys sorted (StratoVirt's serde output)
    vm.qmp.send_raw('{"execute":"query-named-block-nodes"}')
    raw = vm.qmp.recv_line()
    assert raw.startswith('{"return":[{"backing_file_depth":0,"bps":0,'), raw
    assert vm.quit() == 0


# ---------------------------------------------------------------------------
# locking: an image is used by one VMM at a time

def _start_blocking_stratus(stratus, bzimage, img, opts=""):
    sockdir = short_tmpdir()
    args = [str(stratus), "-machine", "microvm", "-m", "128M", "-kernel", str(bzimage),
            "-qmp", "unix:%s/qmp.sock,server,nowait" % sockdir,
            "-drive", "id=d0,file=%s%s" % (img, opts),
            "-device", "virtio-blk-device,drive=d0"]
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20)
        assert not os.path.exists(sockdir + "/qmp.sock"), "socket left behind"
        return p
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


@pytest.mark.parametrize("second", ["rw", "ro"])
def test_shared_image_refused(make_vm, imgdir, stratus, bzimage, second):
    img = make_image(imgdir, "shared.img")
    other = make_image(imgdir, "other.img")
    vm1 = drive_vm(make_vm, img)
    vm1.boot()
    p = _start_blocking_stratus(stratus, bzimage, img,
                                ",readonly=on" if second == "ro" else "")
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 1, "second VMM exit %s, stderr %r" % (p.returncode, err)
    lines = [l for l in err.splitlines() if l.startswith("stratus: error:")]
    assert len(lines) == 1, err
    assert "Failed to lock image file '%s': another process holds it" % img in lines[0], err
    # over QMP in another VM
    vm2 = make_vm(name="vm2")
    vm2.boot()
    c, d = qerr(vm2, "blockdev-add", {"node-name": "x",
                                      "file": {"driver": "file", "filename": str(img)},
                                      "read-only": second == "ro"})
    assert (c, d) == ("GenericError",
                      "Failed to lock image file '%s': another process holds it" % img)
    assert vm2.qmp.execute("query-named-block-nodes")["return"] == []
    blockdev_add(vm2, "y", other)                 # an unrelated image is fine
    # in the same process a second node on the image is refused as well
    c, d = qerr(vm1, "blockdev-add", {"node-name": "again",
                                      "file": {"driver": "file", "filename": str(img)}})
    assert "Failed to lock image file" in d
    assert vm1.quit() == 0
    blockdev_add(vm2, "x", img)                   # released at exit
    assert vm2.quit() == 0


def test_readonly_image_shared_by_readers(make_vm, imgdir, stratus, bzimage):
    img = make_image(imgdir, "base.img")
    vm1 = drive_vm(make_vm, img, opts=",readonly=on")
    vm1.boot()
    vm2 = drive_vm(make_vm, img, opts=",readonly=on", name="vm2")
    vm2.boot()
    ok(vm2.run("blk read 0 0 8"))
    c, d = qerr(vm2, "blockdev-add", {"node-name": "w",
                                      "file": {"driver": "file", "filename": str(img)}})
    assert "Failed to lock image file" in d
    assert vm1.quit() == 0 and vm2.quit() == 0


# ---------------------------------------------------------------------------
# durability: flushed data survives SIGKILL of the VMM (direct=off: page cache)

@pytest.mark.parametrize("aio", ["threads", "io_uring", "off"])
def test_kill9_after_flush_loses_nothing(make_vm, imgdir, aio):
    img = make_image(imgdir, "dur.img")
    vm = drive_vm(make_vm, img, opts=",direct=off,aio=%s" % aio)
    vm.boot()
    ok(vm.run("blk write 0 2048 8192 4242"))        # 4 MiB
    ok(vm.run("blk write 0 7 1 4343"))              # one odd sector
    ok(vm.run("blk flush 0"))
    vm.kill()
    assert vm.wait() == -signal.SIGKILL
    assert read_host(img, 2048 * 512, 8192 * 512) == pattern(4242, 2048 * 512, 8192 * 512)
    assert read_host(img, 7 * 512, 512) == pattern(4343, 7 * 512, 512)
    # and the image is free again for a new VMM
    vm2 = drive_vm(make_vm, img, name="vm2")
    vm2.boot()
    ok(vm2.run("blk verify 0 2048 8192 4242"))
    assert vm2.quit() == 0


# ---------------------------------------------------------------------------
# the block/device golden transcripts (tests/functional/golden), with images

def _block_golden_files():
    return sorted(p for p in tg.GOLDEN_FILES
                  if re.search(r"-(blockdev|device|hotplug|hotunplug|query-block)", p.stem))


def _parse_images(path):
    """'# images: name=SIZE[,name=SIZE]' -> {name: bytes}."""
    sizes = {}
    for line in path.read_text().splitlines():
        m = re.match(r"#\s*images:\s*(.*)$", line)
        if m:
            for item in m.group(1).split(","):
                name, _, size = item.strip().partition("=")
                mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:].upper(), 1)
                sizes[name] = int(size.rstrip("KMGkmg")) * mult
    return sizes


@pytest.mark.parametrize("path,accel", tg.golden_params(_block_golden_files()))
def test_block_golden(path, make_vm, tmp_path):
    """Replays a block golden file with the runner's code (test_golden.py).
    `# images: block=64M` creates sparse files in the VM's socket directory,
    which the runner shows as /path/to; `/path/to/` in `<-` lines is that
    directory.  (Until the runner knows the header, it is given to it as a note.)"""
    text = path.read_text()
    images = _parse_images(path)
    copy = tmp_path / path.name
    if "images" not in tg.HEADER_KEYS:
        text = re.sub(r"(?m)^#\s*images:", "# note: images:", text)
    copy.write_text(text)
    g = tg.Golden(copy)
    sockdir = short_tmpdir()
    try:
        for name, size in images.items():
            make_image(sockdir, name, size)
        g.items = [(it[0], it[1].replace(b"/path/to/", (sockdir + "/").encode()), it[2])
                   if it[0] == "<" else it for it in g.items]
        vm, failures, actual = tg.run_golden(g, make_vm, {"sockdir": sockdir})
        assert not failures, "%s does not match:\n%s\n--- actual transcript ---\n%s" % (
            path.name, "\n".join(failures), "\n".join(actual))
        vm.cleanup()
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
