"""Debian's cloud kernel with the busybox initramfs (scripts/build-linux-guest.sh) on
Stratus `-machine q35 -accel emu` with 2 vCPUs (docs/q35.md): the kernel finds its
CPUs in the MADT and its devices on PCI bus 0 through ECAM (MCFG) and the DSDT's
PCI0; the virtio_pci module binds a virtio-blk-pci and a virtio-net-pci, whose
queues interrupt through MSI-X.  One boot for the module:

* 2 vCPUs (`nproc`), every module loaded, the PCI functions at their addresses;
* virtio-blk-pci: the ext4 image of linux_guest.py mounted, its files' SHA-256s
  equal to the host's, and the queue's interrupt an MSI-X one;
* virtio-net-pci on a tap in a network namespace: ping both ways;
* a disk hot-plugged below a pcie-root-port (the seeds' blockdev-add + device_add
  bus=pcie.1 addr=0x0): Linux's pciehp powers the slot and the disk appears in
  /sys/block with the image's bytes; device_del: pciehp powers the slot off after
  its 5-second attention-button grace, DEVICE_DELETED follows and the disk is gone;
* system_powerdown: q35's fixed power button (PM1 PWRBTN_STS, the SCI) reaches the
  ACPI button driver and busybox acpid, which powers off (exit status 0).

And a second, bare boot with 1 vCPU (issue 15: q35 with 1 and 2 vCPUs): the READY
line's cpus=1 and `nproc` = 1, every module loaded, and `poweroff -f` from the
guest ends the VM with exit status 0."""

import hashlib
import re
import time

import pytest

import netns
from linux_guest import (POWERBUTTON, PROMPT, READY, check_ext4_files, make_ext4_image,
                         print_diagnostics, sh)
from netns import HOST_IP, GUEST_IPS
from stratus_vm import Vm

pytestmark = [pytest.mark.linux, pytest.mark.test_timeout(600)]

BOOT_TIMEOUT = 900


class State:
    vm = None
    boot = ""


@pytest.fixture(scope="module")
def ns():
    yield from netns.namespace("lq")


@pytest.fixture(scope="module")
def guest(stratus, ns, linux_guest_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("linux-q35")
    img = make_ext4_image(work)
    ns.add_tap("tap0")
    vm = ns.vm_class(Vm)(stratus, accel="emu", machine="q35", smp=2, mem="512M",
                         kernel=linux_guest_dir / "vmlinuz",
                         initrd=linux_guest_dir / "initramfs.cpio.gz",
                         append="console=ttyS0 reboot=k panic=-1",
                         extra_args=["-drive", "id=d0,file=%s,format=raw,if=none" % img,
                                     "-device", "virtio-blk-pci,drive=d0,id=blk0,addr=0x3",
                                     "-netdev", "tap,id=n0,ifname=tap0",
                                     "-device", "virtio-net-pci,netdev=n0,id=nic0,addr=0x4,"
                                     "mac=52:54:00:12:34:57",
                                     "-device", "pcie-root-port,port=0x0,addr=0x5,bus=pcie.0,"
                                     "id=pcie.1"],
                         workdir=work, name="linux-q35")
    State.vm = vm
    try:
        vm.launch()
        State.boot = vm.console.read_until(READY, BOOT_TIMEOUT)
        vm.console.read_until(re.escape(PROMPT), 60)
        sh(vm, "dmesg -n 1")      # no kernel messages inside command output
        yield vm
    finally:
        vm.cleanup()


@pytest.fixture(autouse=True)
def dump_on_failure(request):
    yield
    print_diagnostics(request, (State.vm,))


def test_boot_two_vcpus(guest):
    assert "ACPI: Using ACPI (MADT) for SMP configuration information" in State.boot
    assert re.search(r"modules: loaded (\d+) of \1\r?\n", State.boot), State.boot[-3000:]
    assert "cpus=2" in State.boot.strip().splitlines()[-1]
    assert sh(guest, "nproc").split() == ["2"]
    assert "Marking TSC unstable" not in State.boot, State.boot[-3000:]
    assert sh(guest, "cat /sys/devices/system/clocksource/clocksource0/current_clocksource"
              ).split() == ["tsc"]
    ids = {}
    for dev in ("0000:00:00.0", "0000:00:03.0", "0000:00:04.0"):
        ids[dev] = sh(guest, "cat /sys/bus/pci/devices/%s/vendor "
                             "/sys/bus/pci/devices/%s/device" % (dev, dev)).split()
    assert ids == {"0000:00:00.0": ["0x8086", "0x29c0"],      # the Q35 MCH
                   "0000:00:03.0": ["0x1af4", "0x1042"],      # virtio-blk, modern
                   "0000:00:04.0": ["0x1af4", "0x1041"]}      # virtio-net, modern


def test_64bit_window_within_address_width(guest):
    """The DSDT's 64-bit window (512 GiB - 1 TiB) is usable: Linux clips root bus
    windows to the CPU's physical address width (CPUID 0x80000008, 40 bits as
    QEMU's TCG) and keeps this one whole."""
    assert "address sizes\t: 40 bits physical, 48 bits virtual" in sh(guest, "cat /proc/cpuinfo")
    res = sh(guest, "dmesg | grep 'root bus resource'")
    assert "[mem 0x8000000000-0xffffffffff pref window]" in res, res


def test_virtio_blk_pci_ext4(guest):
    drv = sh(guest, "readlink /sys/bus/pci/devices/0000:00:03.0/driver")
    assert drv.strip().endswith("/virtio-pci"), drv
    sh(guest, "mkdir -p /mnt && mount -o ro -t ext4 /dev/vda /mnt")
    check_ext4_files(guest)
    sh(guest, "umount /mnt")
    # Linux names a virtio-pci queue's MSI-X vector virtioN-<queue name>: the
    # reads above completed through it (counts per CPU, then the chip)
    irqs = sh(guest, "cat /proc/interrupts")
    m = re.search(r"^ *\d+:((?: +\d+){2}) +PCI-MSI +\S+ +virtio\d+-req\.0$", irqs, re.M)
    assert m and sum(map(int, m.group(1).split())) > 0, irqs


def test_virtio_net_pci_ping(guest, ns):
    sh(guest, "ip link set eth0 up && ip addr add %s/24 dev eth0" % GUEST_IPS[0])
    assert "52:54:00:12:34:57" in sh(guest, "cat /sys/class/net/eth0/address")
    out = sh(guest, "ping -c 3 -W 10 %s" % HOST_IP, timeout=120)
    assert "3 packets transmitted, 3 packets received" in out, out
    assert ns.ping(GUEST_IPS[0], 3, timeout=10) == 3


def wait_guest(vm, cmd, want, timeout=60):
    """Runs cmd in the guest until its output contains want."""
    deadline = time.monotonic() + timeout
    while True:
        out = sh(vm, cmd)
        if want in out:
            return out
        assert time.monotonic() < deadline, "%r never showed %r: %r" % (cmd, want, out)
        time.sleep(1)


def test_root_port_hotplug_disk(guest, tmp_path):
    img = tmp_path / "hot.img"
    data = bytes((i * 7 + 3) & 0xff for i in range(1 << 20))
    img.write_bytes(data)
    assert guest.qmp.cmd("blockdev-add", **{"node-name": "drive-0",
                                            "file": {"driver": "file", "filename": str(img)},
                                            "cache": {"direct": False}, "read-only": False}) == {}
    assert guest.qmp.cmd("device_add", id="drive-0", driver="virtio-blk-pci",
                         drive="drive-0", addr="0x0", bus="pcie.1") == {}
    wait_guest(guest, "ls /sys/block", "vdb")
    assert sh(guest, "cat /sys/block/vdb/size").split() == ["2048"]
    got = sh(guest, "sha256sum /dev/vdb").split()[0]
    assert got == hashlib.sha256(data).hexdigest()
    assert sh(guest, "ls /sys/bus/pci/slots").split()            # pciehp owns the slot
    assert guest.qmp.cmd("device_del", id="drive-0") == {}
    ev = guest.qmp.wait_event("DEVICE_DELETED", timeout=60)
    assert ev["data"] == {"device": "drive-0", "path": "drive-0"}, ev
    wait_guest(guest, "ls /sys/block; echo end", "end")
    assert "vdb" not in sh(guest, "ls /sys/block")
    assert guest.qmp.cmd("blockdev-del", **{"node-name": "drive-0"}) == {}


def test_system_powerdown(guest):
    assert guest.qmp.execute("system_powerdown") == {"return": {}}
    guest.console.read_until(POWERBUTTON, 300)
    assert guest.wait(300) == 0


@pytest.fixture
def one_vcpu(stratus, linux_guest_dir, tmp_path, request):
    vm = Vm(stratus, accel="emu", machine="q35", smp=1, mem="256M",
            kernel=linux_guest_dir / "vmlinuz", initrd=linux_guest_dir / "initramfs.cpio.gz",
            append="console=ttyS0 reboot=k panic=-1", workdir=tmp_path,
            name="linux-q35-1cpu")
    yield vm
    print_diagnostics(request, (vm,))
    vm.cleanup()


def test_one_vcpu_boot_and_poweroff(one_vcpu):
    vm = one_vcpu
    vm.launch()
    boot = vm.console.read_until(READY, BOOT_TIMEOUT)
    vm.console.read_until(re.escape(PROMPT), 60)
    assert re.search(r"modules: loaded (\d+) of \1\r?\n", boot), boot[-3000:]
    assert "cpus=1" in boot.strip().splitlines()[-1]
    assert sh(vm, "nproc").split() == ["1"]
    vm.console.write("poweroff -f\n")
    vm.console.read_until(r"reboot: Power down", 120)
    assert vm.wait(120) == 0
