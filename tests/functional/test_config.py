"""-config FILE and -api-channel (docs/command-line.md "-config"): the test guest
started from StratoVirt 0.x's JSON description, as seeds 001 and 004 start
StratoVirt.

* Every section the test guest can show: machine-config (vCPUs, memory in bytes),
  boot-source (kernel, command line), drive (a read-only disk with its serial and
  an iothread), iothread, console (a listening virtconsole), balloon; the monitor
  on -api-channel; the guest and QMP see exactly that. (net and vsock need a tap
  and /dev/vhost-vsock: tests/unit/test-options-config.c maps them; here vsock's
  creation error names its key.)
* The command line overrides the file (-m, -smp, -append, and a -drive with the
  file's id), as StratoVirt 0.x's config guidebook says of the two.
* A bad item stops start-up with one line naming the file and the key path,
  also when the error only shows when the device is created.
"""

import json
import os
import subprocess

import pytest

from test_block import blk_lines, ok
from stratus_vm import connect_unix
from test_cmdline import check_error_exit

MIB = 1 << 20


def write_config(vm, conf):
    path = os.path.join(vm.sockdir, "vm.json")
    with open(path, "w") as f:
        json.dump(conf, f)
    return path


def image(tmp_path, name, size, fill=b"\0"):
    path = tmp_path / name
    path.write_bytes(fill * size)
    return str(path)


def config_vm(make_vm, bzimage, conf, extra=()):
    """A VM whose machine, memory and kernel come only from the file."""
    vm = make_vm(machine=None, mem=None, kernel=None, qmp="api-channel")
    conf.setdefault("boot-source", {})["kernel_image_path"] = str(bzimage)
    vm.extra_args = ["-config", write_config(vm, conf)] + list(extra)
    return vm


def test_config_sections(make_vm, bzimage, tmp_path):
    disk = image(tmp_path, "disk.img", 2 * MIB)
    console = str(tmp_path / "c0.sock")
    vm = config_vm(make_vm, bzimage, {
        "machine-config": {"type": "MicroVm", "vcpu_count": 2, "mem_size": 384 * MIB},
        "boot-source": {"boot_args": "console=ttyS0 cfg-test=1"},
        "drive": [{"drive_id": "rootfs", "path_on_host": disk, "serial_num": "cfg-sn",
                   "read_only": True, "direct": False, "iothread": "io0"}],
        "iothread": [{"id": "io0"}],
        "console": [{"console_id": "c0", "socket_path": console}],
        "balloon": {"deflate_on_oom": True}})
    vm.boot()
    # the console: its chardev listens, its virtconsole sits on the file's one bus
    assert "c0" in [c["label"] for c in vm.qmp.cmd("query-chardev")]
    connect_unix(console, 5.0).close()
    assert {p["name"] for p in vm.qmp.cmd("qom-list", path="/machine/peripheral")} >= \
        {"c0", "virtio-serial0", "rootfs"}
    assert len(vm.qmp.cmd("query-cpus-fast")) == 2
    assert vm.qmp.cmd("query-balloon") == {"actual": 384 * MIB}
    blocks = vm.qmp.cmd("query-block")
    assert [b["device"] for b in blocks if b.get("inserted")] == ["rootfs"]
    assert blocks[0]["inserted"]["ro"] is True
    d = blk_lines(ok(vm.run("blk list")))[0]
    assert int(d["capacity"]) == 2 * MIB // 512 and d["ro"] == "1" and d["serial"] == "cfg-sn"
    info = vm.info()
    assert info["cpus"] == 2
    assert info["cmdline"].startswith("console=ttyS0 cfg-test=1")


def test_command_line_overrides_file(make_vm, bzimage, tmp_path):
    from_file = image(tmp_path, "file.img", 1 * MIB)
    from_argv = image(tmp_path, "argv.img", 3 * MIB)
    vm = config_vm(make_vm, bzimage, {
        "machine-config": {"mem_size": 256 * MIB, "vcpu_count": 1},
        "boot-source": {"boot_args": "console=ttyS0 from=file"},
        "drive": [{"drive_id": "d0", "path_on_host": from_file}]},
        extra=["-m", "320M", "-drive", "id=d0,file=%s" % from_argv, "-smp", "2",
               "-append", "console=ttyS0 from=argv"])
    vm.boot()
    info = vm.info()
    assert info["cpus"] == 2
    assert info["cmdline"].startswith("console=ttyS0 from=argv"), info["cmdline"]
    assert "from=file" not in info["cmdline"]
    e820 = vm.info()["e820"]
    assert sum(e["size"] for e in e820 if e["type"] == 1) <= 320 * MIB
    assert sum(e["size"] for e in e820 if e["type"] == 1) > 256 * MIB
    d = blk_lines(ok(vm.run("blk list")))[0]
    assert int(d["capacity"]) == 3 * MIB // 512


@pytest.mark.parametrize("conf,words", [
    ({"net": [{"iface_id": "n0", "host_dev_name": "tap-x", "mac": "zz"}]},
     ["net[0].iface_id: Property 'virtio-net-device.mac' doesn't take value 'zz'"]),
    ({"drive": [{"drive_id": "d0", "path_on_host": "/nonexistent/disk.img"}]},
     ["/nonexistent/disk.img"]),
    ({"machine-config": {"vcpu_count": 255}}, ["machine-config.vcpu_count"]),
    ({"machine-config": {"vcpus": 1}}, ["unknown key 'machine-config.vcpus'"]),
    ({"console": [{"console_id": "c0", "socket_path": "/nonexistent/dir/c0.sock"}]},
     ["console[0]: chardev 'c0': cannot bind unix socket /nonexistent/dir/c0.sock"]),
    ({"vsock": {"vsock_id": "v0", "guest_cid": 2}}, ["vsock: "]),
], ids=["device-error", "missing-image", "vcpus", "unknown-key", "console-socket", "vsock"])
def test_bad_config(stratus, bzimage, sockdir, conf, words):
    conf.setdefault("boot-source", {})["kernel_image_path"] = str(bzimage)
    path = os.path.join(sockdir, "vm.json")
    with open(path, "w") as f:
        json.dump(conf, f)
    check_error_exit([str(stratus), "-accel", "emu", "-config", path,
                      "-api-channel", "unix:%s/qmp.sock" % sockdir], words)


@pytest.mark.parametrize("text,error", [
    ('{"machine-config": {"vcpu_count": "2"}}',
     "machine-config.vcpu_count: expected a non-negative integer"),
    ('{"boot-source": {"kernel_image_path": 7}}',
     "boot-source.kernel_image_path: expected a string"),
    ('{"serial": {"stdio": "yes"}}', "serial.stdio: expected true or false"),
    ('{"machine_config": {}}', "unknown key 'machine_config'"),
    ('{"drive": [{"drive_id": "d", "path_on_host": "/x", "cache": "none"}]}',
     "unknown key 'drive[0].cache'"),
    ('{"drive": {"drive_id": "d", "path_on_host": "/x"}}', "drive: expected an array"),
    ('{"drive": [["d", "/x"]]}', "drive[0]: expected an object"),
    ('{"machine-config": [{"vcpu_count": 1}]}', "machine-config: expected an object"),
    ('{"net": [{"iface_id": "n", "host_dev_name": "t"}, {"iface_id": "n0"}]}',
     "net[1].host_dev_name: missing"),
    ('[{"machine-config": {}}]', "expected a JSON object"),
    ('{"machine-config": {"vcpu_count": 1,}}', "1:36: Parse error"),
], ids=["wrong-type-int", "wrong-type-string", "wrong-type-bool", "unknown-top-key",
        "unknown-nested-key", "object-for-array", "array-for-object-item",
        "array-for-object", "missing-key", "not-an-object", "json-syntax"])
def test_bad_config_file_names_the_key(stratus, sockdir, text, error):
    """The whole error is one line: `stratus: error: -config FILE: <key path>: ...`."""
    path = os.path.join(sockdir, "vm.json")
    with open(path, "w") as f:
        f.write(text)
    argv = [str(stratus), "-accel", "qtest", "-config", path, "-api-channel",
            "unix:%s/qmp.sock" % sockdir]
    check_error_exit(argv, [error])
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    line = p.stderr.decode()
    assert line.startswith("stratus: error: -config %s: " % path), line
    assert error in line, line
