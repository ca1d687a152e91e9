"""Camera back ends on the command line and at run time (docs/camera.md,
src/options/opt-cameradev.c, src/machine-camera.c, src/backends/camera*.c).

* Bad `-cameradev` options exit 1 with one `stratus: error:` line naming the
  option: StratoVirt's texts for the driver, path and duplicate id, and the
  v4l2 probe's for a node that is missing or is not a capture device.
* A q35 VM started with two demo back ends boots to the guest prompt; QMP sees
  them (a duplicate id is refused, both delete, an id can be added again); a
  v4l2 back end on /dev/null under the default seccomp filter is refused with
  its error and the VM keeps running.
The QMP texts themselves are golden transcripts (qmp-cameradev*.txt).
"""

import shutil

import pytest

from stratus_vm import short_tmpdir
from test_cmdline import argv_of, base_opts, check_error_exit

BAD = [
    # (id, machine, tail, text)
    ("unknown-driver", "q35", ["-cameradev", "usb,id=c0"],
     "-cameradev: Unknown camera backend type"),
    ("no-id", "q35", ["-cameradev", "demo"], "-cameradev: Parameter 'id' is missing"),
    ("bad-id", "q35", ["-cameradev", "demo,id=0c"],
     "-cameradev: Parameter 'id' expects an identifier"),
    ("v4l2-no-path", "q35", ["-cameradev", "v4l2,id=c0"],
     "-cameradev: no path configured for cameradev"),
    ("duplicate-id", "q35", ["-cameradev", "demo,id=c0", "-cameradev", "demo,id=c0"],
     "-cameradev: cameradev with id \"c0\" has already existed"),
    ("unknown-key", "q35", ["-cameradev", "demo,id=c0,bus=usb.0"],
     "-cameradev: unknown parameter 'bus'"),
    ("same-node", "q35", ["-cameradev", "demo,id=c0,path=/x", "-cameradev", "demo,id=c1,path=/x"],
     "-cameradev: another cameradev has the same backend device"),
    ("missing-node", "q35", ["-cameradev", "v4l2,id=c0,path=/nonexistent/video0"],
     "-cameradev: Failed to open camera device '/nonexistent/video0': "
     "No such file or directory"),
    ("not-v4l2", "q35", ["-cameradev", "v4l2,id=c0,path=/dev/null"],
     "-cameradev: " + "'/dev/null' is not a V4L2 device (device 1:3, V4L2 nodes have major 81)"),
    # the guest device is not built yet (docs/camera.md)
    ("usb-camera", "q35", ["-cameradev", "demo,id=c0", "-device", "usb-camera,cameradev=c0"],
     "'usb-camera' is not a valid device model name"),
    ("microvm", "microvm", ["-cameradev", "demo,id=c0"],
     "-cameradev: camera back ends are not supported for MicroVM"),
]


@pytest.mark.parametrize("case_id,machine,tail,text", BAD, ids=[c[0] for c in BAD])
def test_cameradev_bad_option(stratus, bzimage, case_id, machine, tail, text):
    sock = short_tmpdir()
    try:
        opts = base_opts()
        opts["-machine"] = [machine]
        argv = [str(stratus)] + argv_of(opts, tail + ["-accel", "emu"],
                                        {"KERNEL": str(bzimage), "SOCK": sock})
        check_error_exit(argv, [text])
    finally:
        shutil.rmtree(sock, ignore_errors=True)


def test_cameradev_vm(make_vm):
    vm = make_vm(machine="q35", extra_args=["-cameradev", "demo,id=cam0",
                                            "-cameradev", "demo,id=cam1,path=/nonexistent"])
    vm.boot()
    r = vm.qmp.execute("cameradev_add", {"id": "cam0", "driver": "demo"})
    assert r["error"]["desc"] == 'cameradev with id "cam0" has already existed', r
    # under the seccomp filter: an error, not a killed VMM
    r = vm.qmp.execute("cameradev_add", {"id": "cam2", "driver": "v4l2", "path": "/dev/null"})
    assert r["error"] == {"class": "GenericError", "desc": "'/dev/null' is not a V4L2 device (device 1:3, V4L2 nodes have major 81)"}, r
    assert vm.qmp.cmd("cameradev_del", id="cam0") == {}
    assert vm.qmp.cmd("cameradev_del", id="cam1") == {}
    r = vm.qmp.execute("cameradev_del", {"id": "cam1"})
    assert r["error"]["desc"] == "no cameradev with id cam1", r
    assert vm.qmp.cmd("cameradev_add", id="cam0", driver="demo") == {}
    assert vm.qmp.cmd("query-status")["status"] == "running"
    assert vm.run("echo alive").ok


def test_cameradev_v4l2_fake_node(make_vm):
    """-cameradev v4l2 on /dev/video0 made a capture node by tests/functional/fake-v4l2.c
    (preloaded): the machine starts, the node is refused a second time under another
    id, deleted, and taken again by cameradev_add."""
    from test_golden import fake_v4l2_env
    vm = make_vm(machine="q35", env=fake_v4l2_env("/dev/video0"),
                 extra_args=["-cameradev", "v4l2,id=cam0,path=/dev/video0"])
    vm.boot()
    r = vm.qmp.execute("cameradev_add", {"id": "cam1", "driver": "v4l2", "path": "/dev/video0"})
    assert r["error"]["desc"] == "another cameradev has the same backend device", r
    assert vm.qmp.cmd("cameradev_del", id="cam0") == {}
    assert vm.qmp.cmd("cameradev_add", id="cam1", driver="v4l2", path="/dev/video0") == {}
    assert vm.qmp.cmd("query-status")["status"] == "running"
