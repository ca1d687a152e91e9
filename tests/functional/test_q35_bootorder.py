"""fw_cfg `bootorder` byte for byte against QEMU (src/hw/bootorder.c, docs/q35.md
"Boot order").

Both VMMs start without a guest (Stratus `-accel qtest`, QEMU `-S` with its qtest
server) with the same devices; the test reads the fw_cfg directory and the file
through the I/O ports 0x510/0x511 as firmware does, and the two files must be the
same bytes: virtio-blk-pci on pcie.0 and below a pcie-root-port, virtio-net-pci,
a function other than 0, hex and negative indexes, none at all (empty file), and
`-boot strict=on` (HALT). On microvm the transports sit at other addresses on the
two VMMs, so the 16-digit base is masked before comparing.
With -kernel, QEMU's linuxboot option ROM heads the list and holds index 0 (also on
microvm, where fw_cfg is on under qtest). The refusals (a taken index, index 0 with
-kernel, junk, out of int32 range) must give QEMU's texts.
"""
import re
import socket
import subprocess

import pytest

pytestmark = pytest.mark.covers(options=["device", "boot"])

STRATUS_QTEST = ["-accel", "qtest", "-qtest", "chardev:qt", "-chardev", "stdio,id=qt",
                 "-qtest-log", "none", "-display", "none"]
QEMU_QTEST = ["-qtest", "stdio", "-qtest-log", "/dev/null", "-display", "none",
              "-nodefaults", "-S"]


class FwCfg:
    """A VMM under qtest on stdin/stdout, read through fw_cfg's ports."""

    def __init__(self, argv, pass_fds=()):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, pass_fds=pass_fds)

    def _batch(self, cmds):
        self.p.stdin.write("".join(c + "\n" for c in cmds))
        self.p.stdin.flush()
        out = []
        while len(out) < len(cmds):
            line = self.p.stdout.readline()
            assert line, "VMM gone: %s" % self.p.stderr.read()
            if line.startswith(("OK", "FAIL")):
                out.append(line.split())
        return out

    def item(self, key, n):
        self._batch(["outw 0x510 0x%x" % key])
        data = b""
        while len(data) < n:        # in chunks: both pipes must not fill up
            r = self._batch(["inb 0x511"] * min(1024, n - len(data)))
            data += bytes(int(x[1], 16) for x in r)
        return data

    def file(self, name):
        count = int.from_bytes(self.item(0x19, 4), "big")
        d = self.item(0x19, 4 + 64 * count)[4:]
        for i in range(count):
            e = d[64 * i:64 * (i + 1)]
            if e[8:].split(b"\0")[0].decode() == name:
                return self.item(int.from_bytes(e[4:6], "big"), int.from_bytes(e[0:4], "big"))
        return None

    def close(self):
        self.p.kill()
        self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()
        self.p.stderr.close()


def bootorder(argv, fd):
    vm = FwCfg(argv, pass_fds=(fd,))
    try:
        return vm.file("bootorder")
    finally:
        vm.close()


@pytest.fixture
def disks(tmp_path):
    paths = []
    for n in ("a", "b", "c"):
        p = tmp_path / ("%s.img" % n)
        p.write_bytes(b"\0" * (1 << 20))
        paths.append(p)
    return paths


@pytest.fixture
def net_fd():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    yield b.fileno()
    a.close()
    b.close()


def machine_args(disks, fd, machine, devices):
    args = ["-M", machine, "-m", "512"]
    for i, d in enumerate(disks):
        args += ["-drive", "if=none,id=d%d,file=%s,format=raw" % (i, d)]
    args += ["-netdev", "socket,id=n0,fd=%d" % fd]
    return args + [x for dev in devices for x in ("-device", dev)]


ROOT_PORT = "pcie-root-port,id=rp1,bus=pcie.0,addr=0x3,chassis=1,port=1"
Q35_CASES = [
    ("pcie0-root-port-net", [
        "virtio-blk-pci,drive=d0,bootindex=1", ROOT_PORT,
        "virtio-blk-pci,drive=d1,bus=rp1,addr=0x0,bootindex=0",
        "virtio-net-pci,netdev=n0,addr=0x5,bootindex=2"]),
    ("function-hex-negative", [
        "virtio-blk-pci,drive=d0,addr=0x2.0x3,bootindex=0x10",
        "virtio-blk-pci,drive=d1,addr=0x4,bootindex=-2",
        "virtio-net-pci,netdev=n0,addr=0x6.0x1,bootindex=9"]),
    ("no-bootindex", ["virtio-blk-pci,drive=d0", "virtio-net-pci,netdev=n0"]),
    ("strict-none", ["virtio-blk-pci,drive=d0"], ["-boot", "strict=on"]),
    ("strict", ["virtio-blk-pci,drive=d0,bootindex=4", ROOT_PORT,
                "virtio-blk-pci,drive=d1,bus=rp1,addr=0x0,bootindex=3"], ["-boot", "strict=on"]),
    ("gaps", ["virtio-blk-pci,drive=d0,bootindex=100", "virtio-blk-pci,drive=d1",
              "virtio-blk-pci,drive=d2,bootindex=7"]),
]


@pytest.mark.parametrize("case", Q35_CASES, ids=[c[0] for c in Q35_CASES])
def test_bootorder_same_as_qemu_q35(stratus, qemu_bin, disks, net_fd, case):
    args = machine_args(disks, net_fd, "q35", case[1]) + (case[2] if len(case) > 2 else [])
    ours = bootorder([str(stratus)] + STRATUS_QTEST + args, net_fd)
    theirs = bootorder([qemu_bin] + QEMU_QTEST + args, net_fd)
    print("bootorder", case[0], repr(ours))
    assert theirs is not None and ours == theirs, (ours, theirs)
    assert ours == b"" or ours.endswith(b"\0")


def test_bootorder_microvm_form(stratus, qemu_bin, disks, net_fd):
    devices = ["virtio-blk-device,drive=d0,bootindex=5", "virtio-net-device,netdev=n0,bootindex=4"]
    args = machine_args(disks, net_fd, "microvm", devices)
    ours = bootorder([str(stratus)] + STRATUS_QTEST + args, net_fd)
    theirs = bootorder([qemu_bin] + QEMU_QTEST + args, net_fd)
    # Stratus's slots: net slot 0 is transport 6; QEMU fills its transports from the top.
    assert ours == (b"/virtio-mmio@00000000f0100c00/ethernet-phy@0\n"
                    b"/virtio-mmio@00000000f0100000/disk@0,0\0"), ours
    mask = re.compile(rb"@[0-9a-f]{16}/")
    assert mask.sub(b"@X/", ours) == mask.sub(b"@X/", theirs), (ours, theirs)


KERNEL_CASES = [
    ("q35", ["virtio-blk-pci,drive=d0,bootindex=1"], []),
    ("q35-no-dma", [], ["-global", "fw_cfg_io.dma_enabled=off"]),
    ("q35-strict", ["virtio-blk-pci,drive=d0,bootindex=3"], ["-boot", "strict=on"]),
    ("microvm", ["virtio-blk-device,drive=d0,bootindex=2"], []),
]


@pytest.mark.parametrize("case", KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
def test_bootorder_with_kernel_as_qemu(stratus, qemu_bin, bzimage, disks, net_fd, case):
    """-kernel: QEMU's linuxboot option ROM holds bootindex 0 and heads the list."""
    name, devices, extra = case
    args = machine_args(disks, net_fd, name.split("-")[0], devices) + \
        ["-kernel", str(bzimage)] + extra
    ours = bootorder([str(stratus)] + STRATUS_QTEST + args, net_fd)
    theirs = bootorder([qemu_bin] + QEMU_QTEST + args, net_fd)
    rom = b"/rom@genroms/linuxboot%s.bin" % (b"" if "no-dma" in name else b"_dma")
    assert ours.startswith(rom), ours
    mask = re.compile(rb"@[0-9a-f]{16}/")
    assert mask.sub(b"@X/", ours) == mask.sub(b"@X/", theirs), (ours, theirs)


ERROR_CASES = [("taken", "1"), ("junk", "abc"), ("empty", ""),
               ("over", "2147483648"), ("under", "-2147483649")]


@pytest.mark.parametrize("value", [c[1] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_bootindex_errors_as_qemu(stratus, qemu_bin, disks, net_fd, value):
    devices = ["virtio-blk-pci,drive=d0,bootindex=1", "virtio-blk-pci,drive=d1,bootindex=" + value]
    args = machine_args(disks, net_fd, "q35", devices)
    texts = []
    for argv in ([str(stratus)] + STRATUS_QTEST + args, [qemu_bin] + QEMU_QTEST + args):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30, pass_fds=(net_fd,))
        lines = [l for l in p.stderr.splitlines() if l]
        assert p.returncode == 1 and len(lines) == 1, (argv[0], p.returncode, p.stderr)
        texts.append(lines[0])
    assert texts[0].startswith("stratus: error: "), texts
    # QEMU names the option it refuses ("-device ...: "); the message after it must match.
    assert texts[1].endswith(": " + texts[0][len("stratus: error: "):]), texts


def test_bootindex_0_taken_by_kernel_as_qemu(stratus, qemu_bin, bzimage, disks, net_fd):
    args = machine_args(disks, net_fd, "q35", ["virtio-blk-pci,drive=d0,bootindex=0"]) + \
        ["-kernel", str(bzimage)]
    texts = []
    for argv in ([str(stratus)] + STRATUS_QTEST + args, [qemu_bin] + QEMU_QTEST + args):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=30, pass_fds=(net_fd,))
        assert p.returncode == 1, (argv[0], p.stderr)
        texts.append(p.stderr.strip())
    assert texts[0] == "stratus: error: The bootindex 0 has already been used", texts
    assert texts[1].endswith(": The bootindex 0 has already been used"), texts
