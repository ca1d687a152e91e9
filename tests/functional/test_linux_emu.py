"""Debian's cloud kernel with the busybox initramfs (scripts/build-linux-guest.sh) on
Stratus `-machine microvm,acpi=on -accel emu` with one vCPU, a disk, a NIC and a
balloon: what users do with a Linux guest, on the software CPU.

A Linux boot costs 20-60 s of emulated CPU, so the module boots one VM (module
fixture `guest`) and the tests below run on it in file order, each checking one
thing; the last ones end it:

* 1 vCPU: the READY line's cpus=1 and `nproc` = 1, every module loaded;
* the serial console takes input: a line typed while `read` waits comes back;
* an ext4 image made on the host (`mkfs.ext4 -d`, files of known SHA-256) mounted
  as /dev/vda (virtio-mmio found through the DSDT): the guest's checksums are the
  host's; a file written in the guest, synced and unmounted, is read back on the
  host with debugfs (same SHA-256) and e2fsck finds the image clean;
* virtio-net on a tap in a network namespace (netns.py): the guest pings the host
  and the host the guest; 1 MiB over TCP each way (busybox nc), SHA-256 checked;
* the balloon: QMP `balloon` to 128 MiB less lowers the guest's MemTotal by that
  much (Linux takes inflated pages out of it without DEFLATE_ON_OOM), and
  deflating gives them back;
* disk hot-plug, microvm style: blockdev-add + device_add fill the empty block
  slot 1, Linux's vdb grows from 0 to the image's size (SHA-256 of /dev/vdb is the
  image's), device_del (DEVICE_DELETED) shrinks it to 0 again;
* a snapshot (`migrate file:`) of the booted guest, a file written just before it;
* `reboot -f` in the guest (after `cont`) ends the VM with exit status 0, as the
  test guest's reboot does (reboot=k: the keyboard controller's reset line);
* the snapshot restored by a new process (`-incoming file:`, in the namespace, on
  another tap): the shell answers, the file reads back, the disk mounts;
* `poweroff -f` in the restored guest ends it with exit status 0.

Two vCPUs and system_powerdown are test_linux_acpi.py's."""

import os
import re
import socket
import subprocess
import threading
import time

import pytest

import netns
from linux_guest import (PROMPT, READY, EXT4_FILES, check_ext4_files, make_ext4_image,
                         print_diagnostics, sh, sha256)
from netns import HOST_IP, GUEST_IPS
from stratus_vm import Vm

pytestmark = [pytest.mark.linux, pytest.mark.test_timeout(600)]

BOOT_TIMEOUT = 900
MEM_MIB = 512
BALLOON_MIB = 128
TCP_BYTES = 1 << 20


@pytest.fixture(scope="module")
def ns():
    yield from netns.namespace("lx")


@pytest.fixture(scope="module")
def ext4_image(tmp_path_factory):
    return make_ext4_image(tmp_path_factory.mktemp("ext4"))


class State:
    """What the tests of this module hand on to the next ones."""
    vm = None
    boot = ""
    restored = None
    snapdir = None
    token = None


def vm_args(ext4_image, tap):
    return ["-drive", "id=d0,file=%s,format=raw,if=none" % ext4_image,
            "-device", "virtio-blk-device,drive=d0,id=blk0",
            "-netdev", "tap,id=n0,ifname=%s" % tap,
            "-device", "virtio-net-device,netdev=n0,id=nic0,mac=52:54:00:12:34:56",
            "-device", "virtio-balloon-device,id=bal0"]


def make_guest_vm(stratus, ns, guest_dir, workdir, ext4_image, tap, name, extra=()):
    return ns.vm_class(Vm)(stratus, accel="emu", machine="microvm,acpi=on", smp=1,
                           mem="%dM" % MEM_MIB, kernel=guest_dir / "vmlinuz",
                           initrd=guest_dir / "initramfs.cpio.gz",
                           append="console=ttyS0 reboot=k panic=-1",
                           extra_args=vm_args(ext4_image, tap) + list(extra),
                           workdir=workdir, name=name)


@pytest.fixture(scope="module")
def guest(stratus, ns, linux_guest_dir, ext4_image, tmp_path_factory):
    ns.add_tap("tap0")
    ns.add_tap("tap1")
    work = tmp_path_factory.mktemp("linux-emu")
    State.snapdir = work / "snap"
    vm = make_guest_vm(stratus, ns, linux_guest_dir, work, ext4_image, "tap0", "linux")
    State.vm = vm
    try:
        vm.launch()
        State.boot = vm.console.read_until(READY, BOOT_TIMEOUT)
        vm.console.read_until(re.escape(PROMPT), 60)
        # kernel messages (EXT4-fs, crng) would land inside command output:
        # only emergencies (Restarting system, Power down) reach the console now
        sh(vm, "dmesg -n 1")
        yield vm
    finally:
        for v in (vm, State.restored):
            if v is not None:
                v.cleanup()


@pytest.fixture(autouse=True)
def dump_on_failure(request):
    yield
    print_diagnostics(request, (State.vm, State.restored))


def meminfo_kib(vm, key):
    out = sh(vm, "grep ^%s: /proc/meminfo" % key)
    return int(out.split()[1])


def wait_for(get, pred, timeout=180):
    """get() until pred(value) holds (the guest acts on its own time); returns
    the last value.  The test asserts on it afterwards."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if pred(value) or time.monotonic() > deadline:
            return value
        time.sleep(1)


# ---------------------------------------------------------------------------

def test_boot_one_vcpu(guest):
    line = State.boot.strip().splitlines()[-1]
    assert "cpus=1" in line, line
    assert re.search(r"modules: loaded (\d+) of \1\r?\n", State.boot), State.boot[-3000:]
    assert sh(guest, "nproc").split() == ["1"]
    # TSC_ADJUST turns off the watchdog that marked emu's TSC unstable (docs/accelerators.md)
    assert "Marking TSC unstable" not in State.boot, State.boot[-3000:]
    assert sh(guest, "cat /sys/devices/system/clocksource/clocksource0/current_clocksource"
              ).split() == ["tsc"]
    # IA32_MISC_ENABLE has fast strings on and CPUID has ERMS: Linux copies and clears
    # with rep movs/stos (emu moves them a page run at a time)
    assert sh(guest, "dmesg | grep -c 'Disabled fast string' || true").split() == ["0"]
    flags = sh(guest, "grep -m1 '^flags' /proc/cpuinfo").split()
    assert "rep_good" in flags and "erms" in flags, flags


def test_serial_input(guest):
    guest.console.write("read -r line; echo \"got<$line>\"\n")
    time.sleep(0.5)
    guest.console.write("typed on the host 12345\n")
    guest.console.read_until(r"got<typed on the host 12345>\r?\n", 60)
    guest.console.read_until(re.escape(PROMPT), 60)


def test_ext4_read(guest):
    sh(guest, "mkdir -p /mnt && mount -t ext4 /dev/vda /mnt")
    assert "/dev/vda /mnt ext4 rw" in sh(guest, "grep /dev/vda /proc/mounts")
    check_ext4_files(guest)


def test_ext4_write(guest, ext4_image, tmp_path):
    out = sh(guest, "dd if=/dev/urandom of=/mnt/written.bin bs=4096 count=100 2>/dev/null"
                    " && sha256sum /mnt/written.bin && sync && umount /mnt")
    digest = out.split()[0]
    assert "/mnt" not in sh(guest, "cat /proc/mounts")
    dump = tmp_path / "written.bin"
    p = subprocess.run(["/usr/sbin/debugfs", "-R", "dump /written.bin %s" % dump,
                        str(ext4_image)], capture_output=True, text=True)
    assert p.returncode == 0 and dump.exists(), p.stderr
    assert dump.stat().st_size == 100 * 4096
    assert sha256(dump.read_bytes()) == digest
    p = subprocess.run(["/usr/sbin/e2fsck", "-f", "-n", str(ext4_image)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_net_ping(guest, ns):
    sh(guest, "ip link set eth0 up && ip addr add %s/24 dev eth0" % GUEST_IPS[0])
    assert "52:54:00:12:34:56" in sh(guest, "cat /sys/class/net/eth0/address")
    out = sh(guest, "ping -c 3 -W 10 %s" % HOST_IP, timeout=120)
    assert "3 packets transmitted, 3 packets received" in out, out
    assert ns.ping(GUEST_IPS[0], 3, timeout=10) == 3


def _accept_all(listener, want, result):
    """Accepts one connection and reads `want` bytes (then closes it)."""
    try:
        listener.settimeout(120)
        conn, _ = listener.accept()
        conn.settimeout(120)
        data = bytearray()
        while len(data) < want:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.close()
        result["data"] = bytes(data)
    except OSError as e:
        result["error"] = e


def test_net_tcp_transfer(guest, ns):
    payload = os.urandom(TCP_BYTES)
    # host -> guest: busybox nc listens, the host connects (once nc is up) and sends
    # (stdin not the console: what nc read there it would send, and the host's
    # closed socket would answer with a reset that drops the unread data)
    sh(guest, "nc -l -p 5001 < /dev/null > /root/rx & true")
    deadline = time.monotonic() + 60
    while True:
        s = ns.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect((GUEST_IPS[0], 5001))
            break
        except OSError:
            s.close()
            assert time.monotonic() < deadline, "the guest's nc never listened"
            time.sleep(0.5)
    s.settimeout(120)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    s.close()
    out = sh(guest, "wait; wc -c < /root/rx; sha256sum /root/rx", timeout=180)
    assert out.split()[:2] == [str(TCP_BYTES), sha256(payload)], out
    # guest -> host: the host listens in the namespace, the guest's nc sends the file
    listener = ns.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((HOST_IP, 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    result = {}
    t = threading.Thread(target=_accept_all, args=(listener, TCP_BYTES, result))
    t.start()
    try:
        sh(guest, "nc %s %d < /root/rx" % (HOST_IP, port), timeout=180)
    finally:
        t.join(150)
        listener.close()
    assert "error" not in result, result
    assert len(result["data"]) == TCP_BYTES
    assert sha256(result["data"]) == sha256(payload)


def test_balloon_changes_memtotal(guest):
    def memtotal():
        return meminfo_kib(guest, "MemTotal")

    def actual():
        return guest.qmp.cmd("query-balloon")["actual"]

    before = memtotal()
    target = (MEM_MIB - BALLOON_MIB) << 20
    assert guest.qmp.execute("balloon", {"value": target}) == {"return": {}}
    assert wait_for(actual, lambda a: a == target) == target
    assert before - wait_for(memtotal, lambda m: before - m >= BALLOON_MIB << 10) == \
        BALLOON_MIB << 10
    assert guest.qmp.execute("balloon", {"value": MEM_MIB << 20}) == {"return": {}}
    assert wait_for(actual, lambda a: a == MEM_MIB << 20) == MEM_MIB << 20
    assert wait_for(memtotal, lambda m: m >= before) == before


def test_disk_hotplug_and_unplug(guest, tmp_path):
    """The microvm way (docs/block.md "QMP hot-replace"): the DSDT describes six
    block slots, Linux binds the empty ones as disks of capacity 0; blockdev-add +
    device_add fill slot 1 and its config interrupt makes Linux read the new
    capacity; device_del empties it again."""
    data = os.urandom(2 << 20)
    img = tmp_path / "hot.img"
    img.write_bytes(data)
    path = sh(guest, "readlink /sys/block/vdb")
    assert "/LNRO0005:01/" in path, path            # slot 1, 0xf0100200
    assert sh(guest, "cat /sys/block/vdb/size").split() == ["0"]
    assert guest.qmp.execute("blockdev-add", {
        "node-name": "hot1", "file": {"driver": "file", "filename": str(img)},
        "cache": {"direct": False}, "read-only": False}) == {"return": {}}
    assert guest.qmp.execute("device_add", {"id": "hot1", "driver": "virtio-blk-mmio",
                                            "addr": "0x1"}) == {"return": {}}

    def size():
        return sh(guest, "cat /sys/block/vdb/size").split()

    sectors = [str(len(data) >> 9)]
    assert wait_for(size, lambda v: v == sectors) == sectors
    assert sh(guest, "sha256sum /dev/vdb").split()[0] == sha256(data)
    assert guest.qmp.execute("device_del", {"id": "hot1"}) == {"return": {}}
    assert guest.qmp.wait_event("DEVICE_DELETED")["data"] == {"device": "hot1",
                                                              "path": "hot1"}
    assert wait_for(size, lambda v: v == ["0"]) == ["0"]


def test_snapshot_of_booted_linux(guest):
    State.token = sha256(os.urandom(16))
    sh(guest, "echo %s > /root/before-snapshot && sync" % State.token)
    resp = guest.qmp.execute("migrate", {"uri": "file:%s" % State.snapdir})
    assert resp == {"return": {}}, resp
    assert guest.qmp.cmd("query-migrate") == {"status": "completed"}
    assert not guest.qmp.cmd("query-status")["running"]
    assert (State.snapdir / "state").exists() and (State.snapdir / "memory").exists()


def test_reboot_from_guest_ends_vm(guest):
    assert guest.qmp.execute("cont") == {"return": {}}
    assert sh(guest, "echo alive").strip() == "alive"
    guest.console.write("reboot -f\n")
    guest.console.read_until(r"reboot: Restarting system", 120)
    assert guest.wait(120) == 0


def test_snapshot_restored_in_new_process(stratus, ns, linux_guest_dir, ext4_image):
    assert State.token is not None, "no snapshot (test_snapshot_of_booted_linux failed)"
    vm = make_guest_vm(stratus, ns, linux_guest_dir, State.snapdir.parent, ext4_image,
                       "tap1", "restored", ["-incoming", "file:%s" % State.snapdir])
    State.restored = vm
    vm.launch()
    # the shell was waiting at its prompt when the snapshot was taken: a newline
    # gives a fresh prompt
    vm.console.write("\n")
    vm.console.read_until(re.escape(PROMPT), 120)
    assert vm.qmp.cmd("query-status")["running"]
    assert sh(vm, "cat /root/before-snapshot").strip() == State.token
    assert sh(vm, "nproc").split() == ["1"]
    sh(vm, "mount -o ro /dev/vda /mnt")
    out = sh(vm, "sha256sum /mnt/small.txt")
    assert out.split()[0] == sha256(EXT4_FILES["small.txt"])
    sh(vm, "umount /mnt")


def test_poweroff_from_guest_ends_vm():
    vm = State.restored
    assert vm is not None, "no restored VM (test_snapshot_restored_in_new_process failed)"
    vm.console.write("poweroff -f\n")
    vm.console.read_until(r"reboot: Power down", 120)
    assert vm.wait(120) == 0
