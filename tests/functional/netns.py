"""Real network plumbing for the virtio-net tests: a network namespace per test
holding a bridge (br0, 10.0.2.2/24, as the seeds' setup bridges the taps) and
the taps the VMM uses, plus host-side traffic (ICMP echo over a raw socket, UDP)
generated from inside that namespace.

Host-side sockets are created by a short-lived thread that first joins the
namespace with setns(CLONE_NEWNET): a socket stays in the namespace it was
created in, so the test's main thread can use it afterwards while the test
process itself stays in the root namespace (Python 3.11 has no os.setns).
A VMM is run inside the namespace through `ip netns exec` (which execs, so the
pid is the VMM's): see NetNs.vm_class().
"""

import ctypes
import fcntl
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_MULTI_QUEUE = 0x0100
HOST_IP = "10.0.2.2"
GUEST_IPS = ("10.0.2.15", "10.0.2.16")
ECHO_PORT = 7


def problem():
    """Why these tests cannot run here, or None."""
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun on this host"
    if os.geteuid() != 0:
        return "network namespaces and taps need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
    if not shutil.which("ip"):
        return "no `ip` (iproute2) on this host"
    return None


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def namespace(tag="t"):
    """A fixture body: skips with the reason when namespaces cannot be made here,
    else yields a fresh NetNs and deletes it afterwards."""
    why = problem()
    if why:
        pytest.skip(why)
    n = NetNs(tag)
    try:
        yield n
    finally:
        n.close()


class NetNs:
    _count = 0

    def __init__(self, tag="t"):
        NetNs._count += 1
        self.name = "st%s%d-%d" % (tag, os.getpid() % 100000, NetNs._count)
        self._ip("netns", "add", self.name)
        try:
            self.run("ip", "link", "set", "lo", "up")
            self.run("ip", "link", "add", "br0", "type", "bridge")
            self.run("ip", "addr", "add", HOST_IP + "/24", "dev", "br0")
            self.run("ip", "link", "set", "br0", "up")
        except Exception:
            self.close()
            raise

    @staticmethod
    def _ip(*args):
        subprocess.run(("ip",) + args, check=True, capture_output=True, text=True)

    def run(self, *cmd, check=True):
        return subprocess.run(("ip", "netns", "exec", self.name) + cmd, check=check,
                              capture_output=True, text=True)

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    # -- links
    def add_tap(self, name):
        """A persistent tap (vnet header capable) on br0, up."""
        self.run("ip", "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr")
        self.bridge(name)

    def bridge(self, name):
        """Puts a tap (e.g. one the VMM just created) on br0 and brings it up."""
        self.run("ip", "link", "set", name, "master", "br0")
        self.run("ip", "link", "set", name, "up")

    def has_link(self, name):
        return self.run("ip", "link", "show", name, check=False).returncode == 0

    # -- doing things inside the namespace
    def call(self, fn):
        """fn() on a thread that joined the namespace; returns its result."""
        out = {}

        def body():
            try:
                fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
                try:
                    libc = ctypes.CDLL(None, use_errno=True)
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                out["r"] = fn()
            except BaseException as e:  # handed to the caller
                out["e"] = e

        t = threading.Thread(target=body)
        t.start()
        t.join()
        if "e" in out:
            raise out["e"]
        return out["r"]

    def socket(self, *args):
        return self.call(lambda: socket.socket(*args))

    def open_tap(self, name, multi=False):
        """Creates tap `name` in the namespace and returns its fd (the VMM gets it
        with getfd / SCM_RIGHTS). Flags as the VMM's own: IFF_TAP|IFF_NO_PI|IFF_VNET_HDR,
        and IFF_MULTI_QUEUE with `multi` (each call then opens one more queue)."""
        def body():
            fd = os.open("/dev/net/tun", os.O_RDWR)
            flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (IFF_MULTI_QUEUE if multi else 0)
            ifr = struct.pack("16sH22x", name.encode(), flags)
            fcntl.ioctl(fd, TUNSETIFF, ifr)
            return fd
        return self.call(body)

    def vm_class(self, base):
        """`base` (Vm, QemuVm, ...) whose VMM runs inside this namespace."""
        ns = self.name

        class InNetns(base):
            def build_args(self):
                return ["ip", "netns", "exec", ns] + super().build_args()
        InNetns.__name__ = "InNetns" + base.__name__
        return InNetns

    # -- traffic
    def ping(self, addr, count=3, timeout=5.0):
        """ICMP echo requests, one at a time; returns how many were answered."""
        s = self.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        ident = os.getpid() & 0xffff
        got = 0
        try:
            for seq in range(count):
                payload = b"stratus-ping-%04d" % seq
                hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
                pkt = struct.pack("!BBHHH", 8, 0, _csum(hdr + payload), ident, seq) + payload
                s.sendto(pkt, (addr, 0))
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    r, _, _ = select.select([s], [], [], deadline - time.monotonic())
                    if not r:
                        break
                    data, src = s.recvfrom(2048)
                    icmp = data[(data[0] & 15) * 4:]
                    if src[0] == addr and icmp[0] == 0 and \
                            struct.unpack("!HH", icmp[4:8]) == (ident, seq) and \
                            icmp[8:] == payload:
                        got += 1
                        break
        finally:
            s.close()
        return got

    def udp_echo(self, addr, count=10, size=100, timeout=5.0):
        """`count` datagrams to addr:7, one at a time; returns how many came
        back unchanged from addr:7."""
        s = self.socket(socket.AF_INET, socket.SOCK_DGRAM)
        got = 0
        try:
            s.bind((HOST_IP, 0))
            for i in range(count):
                data = bytes((i + k) & 0xff for k in range(size))
                s.sendto(data, (addr, ECHO_PORT))
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    r, _, _ = select.select([s], [], [], deadline - time.monotonic())
                    if not r:
                        break
                    reply, src = s.recvfrom(65536)
                    if src == (addr, ECHO_PORT) and reply == data:
                        got += 1
                        break
        finally:
            s.close()
        return got

    def udp_listener(self, port):
        s = self.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((HOST_IP, port))
        return s


def drain(sock, quiet=1.0):
    """Every datagram until none arrives for `quiet` seconds."""
    out = []
    while True:
        r, _, _ = select.select([sock], [], [], quiet)
        if not r:
            return out
        out.append(sock.recvfrom(65536))


class Flood:
    """A thread sending UDP to addr:port from inside the namespace until stopped
    (traffic that keeps flowing while a NIC is unplugged)."""

    def __init__(self, ns, addr, port=ECHO_PORT, size=200, interval=0.001):
        self.sock = ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST_IP, 0))
        self.sock.setblocking(False)
        self.addr, self.port, self.size, self.interval = addr, port, size, interval
        self.sent = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        data = b"f" * self.size
        while not self._stop.is_set():
            try:
                self.sock.sendto(data, (self.addr, self.port))
                self.sent += 1
            except OSError:
                pass        # no neighbour, buffer full: keep going
            try:
                while self.sock.recv(65536):
                    pass
            except OSError:
                pass
            time.sleep(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.sock.close()
