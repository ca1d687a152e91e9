"""vsock end to end (src/hw/virtio/virtio-vsock.c, docs/devices-vsock.md): the
test guest's `vsock` command (docs/guest-shell.md "vsock") against
`-device virtio-vsock-device`, with host programs on the unix sockets of
Firecracker's hybrid convention.

* The device is on the first virtio-mmio window after the 8 slots (0xf0101000,
  IRQ 13) and the guest reads its CID from the config space.
* Host -> guest: `CONNECT <port>` / `OK <hostport>`, then the guest's echo
  listener sends every byte back; one stream, then 10 parallel connections of
  1 MiB each, every byte compared and the guest's CRC-32s of what it received
  and sent checked against the host's.
* Guest -> host: `vsock send` connects to `<uds-path>_<port>`; the host checks
  the pattern and its CRC and answers with bytes whose CRC the guest reports.
* A connect to a port nobody listens on is refused both ways.
* Bad options of both vsock types exit 1 with one `stratus: error:` line.
"""

import os
import re
import shutil
import socket
import subprocess
import threading
import zlib

import pytest

from stratus_vm import short_tmpdir
from test_cmdline import argv_of, base_opts, check_error_exit

GUEST_CID = 3
PORT = 1234
CONN_RE = re.compile(r"conn port=(\d+) peer_port=(\d+) rx=(\d+) rx_crc=([0-9a-f]{8}) "
                     r"tx=(\d+) tx_crc=([0-9a-f]{8})")


@pytest.fixture
def uds():
    d = short_tmpdir("vs-")
    yield os.path.join(d, "v.sock")
    shutil.rmtree(d, ignore_errors=True)


def vsock_vm(make_vm, uds):
    vm = make_vm(extra_args=["-device", "virtio-vsock-device,id=vs0,guest-cid=%d,uds-path=%s"
                             % (GUEST_CID, uds)])
    vm.boot()
    return vm


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def start(vm, cmd, ready):
    """Sends a long-running guest command; returns once `ready` was printed."""
    vm.console.write(cmd + "\n")
    vm.console.read_until(re.escape(ready), timeout=60)


def finish(vm, timeout=600):
    """The rest of a command started with start(): its output up to the status line."""
    return vm.console.read_until(r"status=[^\r\n]*\r?\n", timeout=timeout)


def read_line(sock):
    line = b""
    while not line.endswith(b"\n") and len(line) < 64:
        c = sock.recv(1)
        if not c:
            break
        line += c
    return line


def host_connect(uds, port):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    return s


def echo_client(uds, data, result):
    """One host connection through the guest's echo: sends data (then SHUT_WR)
    while reading the echo until the guest closes."""
    s = host_connect(uds, PORT)
    line = read_line(s)
    m = re.fullmatch(rb"OK (\d+)\n", line)
    if not m:
        result["error"] = "handshake answered %r" % line
        return
    result["hostport"] = int(m.group(1))

    def sender():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=sender)
    t.start()
    got = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    t.join()
    s.close()
    result["echo"] = bytes(got)


def run_echo(vm, uds, sizes):
    start(vm, "vsock echo %d %d" % (PORT, len(sizes)), "listening port=%d" % PORT)
    datas = [os.urandom(n) for n in sizes]
    results = [{} for _ in sizes]
    threads = [threading.Thread(target=echo_client, args=(uds, d, r))
               for d, r in zip(datas, results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
        assert not t.is_alive(), "a host connection did not finish"
    out = finish(vm)
    assert "status=ok" in out, out
    conns = {int(m.group(2)): m for m in CONN_RE.finditer(out)}
    assert len(conns) == len(sizes), out
    for d, r in zip(datas, results):
        assert "error" not in r, r.get("error")
        assert r["echo"] == d, "echo of %d bytes differs (got %d)" % (len(d), len(r["echo"]))
        m = conns[r["hostport"]]
        crc = "%08x" % zlib.crc32(d)
        assert int(m.group(1)) == PORT
        assert (int(m.group(3)), m.group(4)) == (len(d), crc), m.group(0)
        assert (int(m.group(5)), m.group(6)) == (len(d), crc), m.group(0)
    assert re.search(r"conns=%d bytes=%d" % (len(sizes), sum(sizes)), out), out


def test_vsock_present(make_vm, uds):
    vm = vsock_vm(make_vm, uds)
    r = ok(vm.run("vsock list"))
    assert len(r.lines) == 1, r
    line = dict(kv.split("=", 1) for kv in r.lines[0].split()[1:])
    assert (line["base"], line["irq"], line["cid"], line["state"]) == \
        ("0xf0101000", "13", str(GUEST_CID), "ok"), r
    assert os.path.exists(uds)


def test_vsock_echo_stream(make_vm, uds):
    vm = vsock_vm(make_vm, uds)
    run_echo(vm, uds, [300000])


def test_vsock_echo_10_parallel_1mib(make_vm, uds):
    vm = vsock_vm(make_vm, uds)
    run_echo(vm, uds, [1 << 20] * 10)
    st = ok(vm.run("vsock stat"))
    assert "protocol_errors=0" in st.lines[0], st


def test_vsock_connect_to_no_listener(make_vm, uds):
    """The guest listens on PORT only: a CONNECT to another port is refused
    (the socket closes without an OK line); the echo on PORT still works."""
    vm = vsock_vm(make_vm, uds)
    start(vm, "vsock echo %d 1" % PORT, "listening port=%d" % PORT)
    s = host_connect(uds, PORT + 1)
    assert read_line(s) == b""
    s.close()
    r = {}
    echo_client(uds, b"still here", r)
    assert r.get("echo") == b"still here", r
    assert "status=ok" in finish(vm)


def pattern(n, seed):
    return bytes(((i * 131) ^ (i >> 9) ^ seed) & 0xff for i in range(n))


def test_vsock_guest_connects_out(make_vm, uds):
    vm = vsock_vm(make_vm, uds)
    n, seed = 1 << 20, 7
    reply = os.urandom(100000)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind("%s_5000" % uds)
    lsock.listen(1)
    lsock.settimeout(120)
    got = {}

    def server():
        c, _ = lsock.accept()
        c.settimeout(120)
        data = bytearray()
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        got["data"] = bytes(data)
        c.sendall(reply)
        c.close()

    t = threading.Thread(target=server)
    t.start()
    r = ok(vm.run("vsock send 5000 %d %d" % (n, seed), timeout=600))
    t.join(60)
    lsock.close()
    want = pattern(n, seed)
    assert got.get("data") == want
    assert r.get("sent") == str(n) and r.get("sent_crc") == "%08x" % zlib.crc32(want), r
    assert r.get("received") == str(len(reply)), r
    assert r.get("received_crc") == "%08x" % zlib.crc32(reply), r


def test_vsock_guest_connect_refused(make_vm, uds):
    vm = vsock_vm(make_vm, uds)
    r = vm.run("vsock send 5001 10")
    assert r.status == "error" and r.msg == "refused", r


def test_vsock_no_device(booted_vm):
    r = booted_vm.run("vsock echo 1 1")
    assert r.status == "error" and r.msg == "nodev", r


@pytest.mark.parametrize("cmd", ["vsock", "vsock nope", "vsock echo", "vsock echo 1",
                                 "vsock echo 1 0", "vsock echo x 1", "vsock send 1",
                                 "vsock send 1 2 3 4", "vsock list x"])
def test_vsock_bad_arguments(make_vm, uds, cmd):
    vm = vsock_vm(make_vm, uds)
    r = vm.run(cmd)
    assert r.status == "error" and r.msg == "bad-arguments" and r.lines == [], r


# ---------------------------------------------------------------------------
# command line: exit 1 and one `stratus: error: ...` line

BAD = [
    ("vhost-no-node", ["-device", "vhost-vsock-device,id=v,guest-cid=3"],
     "vhost-vsock-device: cannot open /dev/vhost-vsock: No such file or directory (the host "
     "needs the vhost_vsock module; virtio-vsock-device works without it)"),
    ("vhost-no-cid", ["-device", "vhost-vsock-device,id=v"],
     "'guest-cid' is missing for 'vsock' device."),
    ("vhost-bad-fd", ["-device", "vhost-vsock-device,id=v,guest-cid=3,vhostfd=999"],
     "vhost-vsock-device: vhostfd '999' is not an open file descriptor"),
    ("cid-low", ["-device", "virtio-vsock-device,id=v,guest-cid=2,uds-path={SOCK}/v"],
     "Vsock guest-cid must >= 3 and < 4294967295."),
    ("cid-high", ["-device",
                  "virtio-vsock-device,id=v,guest-cid=4294967295,uds-path={SOCK}/v"],
     "Vsock guest-cid must >= 3 and < 4294967295."),
    ("no-uds", ["-device", "virtio-vsock-device,id=v,guest-cid=3"],
     "'uds-path' is missing for 'vsock' device."),
    ("uds-no-dir", ["-device", "virtio-vsock-device,id=v,guest-cid=3,uds-path=/nonexistent/v"],
     "Failed to listen on vsock uds-path '/nonexistent/v': No such file or directory"),
    ("two", ["-device", "virtio-vsock-device,id=v,guest-cid=3,uds-path={SOCK}/v",
             "-device", "virtio-vsock-device,id=w,guest-cid=4,uds-path={SOCK}/w"],
     "Only one vsock device is supported for each vm."),
    ("addr-given", ["-device", "virtio-vsock-device,id=v,guest-cid=3,uds-path={SOCK}/v,addr=1"],
     "is not a replaceable device"),
]


@pytest.mark.parametrize("case_id,tail,text", BAD, ids=[c[0] for c in BAD])
def test_vsock_bad_option(stratus, bzimage, case_id, tail, text):
    if case_id == "vhost-no-node" and os.path.exists("/dev/vhost-vsock"):
        pytest.skip("/dev/vhost-vsock exists on this host: its absence cannot be tested")
    sock = short_tmpdir()
    try:
        argv = [str(stratus)] + argv_of(base_opts(), tail + ["-accel", "emu"],
                                        {"KERNEL": str(bzimage), "SOCK": sock})
        check_error_exit(argv, [text])
    finally:
        shutil.rmtree(sock, ignore_errors=True)


def test_vhost_vsock_ioctl_error(stratus, bzimage):
    """vhostfd= on something that is not /dev/vhost-vsock: the first vhost
    ioctl fails and says which, with the kernel's reason."""
    sock = short_tmpdir()
    fd = os.open("/dev/null", os.O_RDWR)
    try:
        argv = [str(stratus)] + argv_of(base_opts(), ["-device",
                                                      "vhost-vsock-device,id=v,guest-cid=3,"
                                                      "vhostfd=%d" % fd, "-accel", "emu"],
                                        {"KERNEL": str(bzimage), "SOCK": sock})
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                           pass_fds=(fd,))
        assert p.returncode == 1, p
        assert p.stderr.decode() == ("stratus: error: vhost-vsock-device: VHOST_SET_OWNER on "
                                     "vhostfd failed: Inappropriate ioctl for device\n"), p
    finally:
        os.close(fd)
        shutil.rmtree(sock, ignore_errors=True)
