"""The seccomp filter on booted guests (src/os/seccomp.c, docs/security.md
"Seccomp"), under the default (no -sandbox option: on, kill mode):

* Seccomp 2 for the process; vCPU threads carry one more filter than the main
  thread (Seccomp_filters 2 vs 1), and so does a block I/O worker thread
  (aio=threads) while the guest writes (3 when a vCPU started it: it inherited
  the vCPU's); the guest works and `quit` exits 0.
* Widening: a balloon on shared guest RAM (mem-share=on, so the balloon frees
  pages with madvise(MADV_REMOVE), allowed only because the balloon is
  configured) inflates: the VM survives and the guest reads zeros there.
* Hot-plug refusal: `blockdev-add` with aio=io_uring on a VM started without
  an io_uring drive fails with one QMP error naming the calls; with an
  io_uring drive at start-up, or with -sandbox off, it is accepted.

* ioctl requests (docs/security.md "ioctl requests"): a VM with a tap NIC
  given on the command line and one hot-plugged (netdev_add after the filter
  is on: TUNSETIFF on the main thread, TUNSETOFFLOAD on the vCPU negotiating
  the NIC's features) answers traffic on both, in kill mode (the default) and
  in debug mode, where stderr must have no "stratus: seccomp:" line at all.

The debug hook (a deliberately forbidden call and ioctl request, logged by
name and request) and the option errors are in test_hardening.py.
"""

import os

import pytest

from test_balloon import balloon_to, guest_balloon, top_of_ram_free
from test_block import blk_lines, blockdev_add, drive_vm, imgdir, make_image, qerr, qok  # noqa: F401
from test_net_traffic import boot_in, check_traffic, link, ns, plug, set_ips  # noqa: F401

MIB = 1 << 20
IO_URING_REFUSED = (
    "aio=io_uring needs system calls that the seccomp filter installed at start-up does "
    "not allow (io_uring_setup, io_uring_register, io_uring_enter): start the VM with one "
    "in use, or with -sandbox off")

pytestmark = pytest.mark.skipif(
    "-sandbox" in os.environ.get("STRATUS_TEST_EXTRA_ARGS", "")
    or "-disable-seccomp" in os.environ.get("STRATUS_TEST_EXTRA_ARGS", ""),
    reason="STRATUS_TEST_EXTRA_ARGS changes the sandbox these tests assert")


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def task_status(pid, tid):
    """{key: value} of /proc/PID/task/TID/status; {} once the thread is gone."""
    try:
        with open("/proc/%d/task/%d/status" % (pid, tid)) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def threads(pid):
    """[(tid, name, Seccomp, Seccomp_filters)] of the live threads."""
    out = []
    for tid in sorted(int(t) for t in os.listdir("/proc/%d/task" % pid)):
        st = task_status(pid, tid)
        if st:
            if "Seccomp_filters" not in st:
                pytest.skip("this kernel's /proc/PID/status has no Seccomp_filters field")
            out.append((tid, st["Name"], st["Seccomp"], int(st["Seccomp_filters"])))
    return out


def test_default_on_vcpus_narrowed(make_vm):
    vm = make_vm(smp=2)
    vm.boot()
    ts = threads(vm.pid)
    assert all(seccomp == "2" for _, _, seccomp, _ in ts), ts
    main = [t for t in ts if t[0] == vm.pid]
    vcpus = [t for t in ts if t[1].startswith("vcpu")]
    assert [t[3] for t in main] == [1], ts
    assert sorted((name, n) for _, name, _, n in vcpus) == [("vcpu0", 2), ("vcpu1", 2)], ts
    assert ok(vm.run("smp xadd 1000")).get("cpus") == "2"
    assert vm.quit() == 0


def test_io_worker_narrowed(make_vm, imgdir):
    img = make_image(imgdir, "disk.img")
    vm = drive_vm(make_vm, img, opts=",aio=threads,direct=off")
    vm.boot()
    ok(vm.run("blk write 0 0 2048 7"))
    # GLib keeps idle pool threads for a while: look at them right after the I/O.
    # A worker started by a vCPU (device emulation) also inherited its filter: 3.
    workers = [t for t in threads(vm.pid) if t[0] != vm.pid and not t[1].startswith("vcpu")
               and t[3] >= 2]
    assert workers, threads(vm.pid)
    ok(vm.run("blk verify 0 0 2048 7"))
    ok(vm.run("blk flush 0"))
    assert vm.quit() == 0


def test_balloon_remove_allowed_by_the_device(make_vm):
    vm = make_vm(machine="microvm,mem-share=on",
                 extra_args=["-device", "virtio-balloon-device,id=bal0"])
    vm.boot()
    base, top = top_of_ram_free(vm)
    ok(vm.run("mem fill 0x%x 0x%x 1" % (top - 64 * MIB, 64 * MIB), timeout=120))
    balloon_to(vm, 256 * MIB - 32 * MIB, 256 * MIB - 32 * MIB)
    assert guest_balloon(vm)["pages"] == str(32 * MIB // 4096)
    # MADV_REMOVE really freed them: the guest reads zeros where the balloon was
    r = vm.run("mem check 0x%x 0x%x 1" % (top - 32 * MIB, MIB))
    assert r.msg == "mismatch" and r.get("mismatches") == str(MIB // 8), r
    balloon_to(vm, 256 * MIB, 256 * MIB)
    assert vm.quit() == 0


def test_hotplug_io_uring_refused(make_vm, imgdir):
    img = make_image(imgdir, "hp.img")
    vm = make_vm()
    vm.boot()
    args = {"node-name": "hp", "file": {"driver": "file", "filename": str(img),
                                        "aio": "io_uring"}}
    assert qerr(vm, "blockdev-add", args) == ("GenericError", IO_URING_REFUSED)
    assert vm.qmp.execute("query-named-block-nodes")["return"] == []
    # the other engines need nothing new
    blockdev_add(vm, "hp", img, aio="native")
    qok(vm, "blockdev-del", {"node-name": "hp"})
    assert vm.is_running()
    assert vm.quit() == 0


@pytest.mark.parametrize("how", ["drive", "sandbox-off"])
def test_hotplug_io_uring_allowed(make_vm, imgdir, how):
    a, b = make_image(imgdir, "a.img"), make_image(imgdir, "b.img")
    if how == "drive":
        vm = drive_vm(make_vm, a, opts=",aio=io_uring")
    else:
        vm = make_vm(extra_args=["-sandbox", "off"])
    vm.boot()
    blockdev_add(vm, "hp", b, aio="io_uring")
    qok(vm, "device_add", {"id": "hpdev", "driver": "virtio-blk-mmio", "drive": "hp",
                           "addr": "0x4"})
    assert int(blk_lines(ok(vm.run("blk rescan")))[4]["capacity"]) > 0   # slot 0x4
    ok(vm.run("blk write 4 0 64 9"))
    ok(vm.run("blk verify 4 0 64 9"))
    assert vm.quit() == 0


@pytest.mark.parametrize("mode", ["kill", "debug"])
def test_tap_nics_answer_traffic(ns, make_vm, mode):
    ns.add_tap("tap0")
    extra = ["-netdev", "tap,id=n0,ifname=tap0",
             "-device", "virtio-net-device,netdev=n0,id=nic0"]
    if mode == "debug":
        extra += ["-sandbox", "on,debug=on"]
    vm = boot_in(ns, make_vm, extra)
    plug(ns, vm, 1)                             # a tap attached after the filter is on
    set_ips(vm, (0, 1))
    assert link(vm, 1)["link"] == "up"
    for dev in (0, 1):
        check_traffic(ns, vm, dev)
    assert all(seccomp == "2" for _, _, seccomp, _ in threads(vm.pid))
    assert vm.quit() == 0
    assert "stratus: seccomp:" not in vm.stderr_text()
