"""virtio-serial end to end (src/hw/virtio/virtio-serial*.c, docs/devices-virtio-serial.md):
 the test guest's `vcon` command (docs/guest-shell.md
"Console ports") against `-device virtio-serial-device` with a virtconsole on
a unix socket.

* The guest finds the ports through the control queue: the console on port 0
  (CONSOLE_PORT, its name, the host side open), a virtserialport whose null
  chardev has no peer.
* Both directions through the socket: short strings, then 1 MiB each way, the
  guest's MD5 against the host's of the same bytes.
* The host hangs up and reconnects: the guest sees PORT_OPEN 0 then 1 and the
  port works again.
* chardev-add of a socket server + device_add of a virtconsole on the running
  serial device: the guest gets the port, data flows; device_del takes it away
  and chardev-remove then succeeds (it is refused while the port holds it).
"""

import hashlib
import os
import socket
import threading
import time

import pytest

MIB = 1 << 20


def ok(reply):
    assert reply.ok, "guest: %r" % (reply,)
    return reply


def ports(vm):
    r = ok(vm.run("vcon list", timeout=60))
    out = {}
    for line in r.lines:
        if line.startswith("port "):
            kv = dict(w.split("=", 1) for w in line.split()[1:])
            out[int(kv["nr"])] = kv
    return r, out


def connect(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def read_exact(sock, n, timeout=120.0):
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        assert chunk, "socket closed after %d of %d bytes" % (len(buf), n)
        buf += chunk
    return bytes(buf)


def console_vm(make_vm, extra=(), serial="virtio-serial-device,id=vser,max_ports=4",
               **vm_kw):
    """A VM whose serial device `serial` has a virtconsole on a unix socket; returns the
    VM at its prompt, the socket's path and the host's connected end. vm_kw go to
    make_vm (machine="q35" with a virtio-serial-pci `serial` for the -pci form)."""
    vm = make_vm(extra_args=[], **vm_kw)
    path = os.path.join(vm.sockdir, "vcon0.sock")
    vm.extra_args = ["-chardev", "socket,id=vc0,path=%s,server,nowait" % path,
                     "-device", serial,
                     "-device", "virtconsole,chardev=vc0,id=con0,name=org.stratus.console"] + \
        list(extra)
    vm.launch()
    host = connect(path)
    vm.console.wait_prompt()
    return vm, path, host


def ping_pong(vm, host):
    """The guest opens port 0, reads the host's "ping" and writes "pong" back (the
    guest's `vcon write` adds a newline), the host reads it."""
    ok(vm.run("vcon open 0"))
    host.sendall(b"ping")
    r = ok(vm.run("vcon recv 0 4", timeout=60))
    assert r.get("hex") == b"ping".hex(), r
    ok(vm.run("vcon write 0 pong"))
    assert read_exact(host, 5) == b"pong\n"


def test_vcon_ports(make_vm):
    vm, _, host = console_vm(make_vm, ["-chardev", "null,id=vc1",
                                       "-device", "virtserialport,chardev=vc1,name=org.p1"])
    r, p = ports(vm)
    assert "base=0xf0101000 irq=13 max_ports=4" in r.lines[0], r
    assert (p[0]["console"], p[0]["name"], p[0]["host"], p[0]["guest"]) == \
        ("1", "org.stratus.console", "1", "0"), r
    assert (p[1]["console"], p[1]["name"], p[1]["host"]) == ("0", "org.p1", "0"), r
    info = vm.qmp.cmd("query-chardev")
    assert {c["label"]: c["frontend-open"] for c in info}["vc0"] is True, info
    host.close()


def test_vcon_both_directions_1mib(make_vm):
    vm, _, host = console_vm(make_vm)
    ping_pong(vm, host)

    # guest -> host: the host reads while the guest writes (the device waits for it)
    got = {}
    reader = threading.Thread(target=lambda: got.update(data=read_exact(host, MIB)))
    reader.start()
    r = ok(vm.run("vcon send 0 %d 42" % MIB, timeout=600))
    reader.join(600)
    assert r.get("bytes") == str(MIB), r
    assert hashlib.md5(got["data"]).hexdigest() == r.get("md5"), r

    # host -> guest
    data = os.urandom(MIB)
    writer = threading.Thread(target=host.sendall, args=(data,))
    writer.start()
    r = ok(vm.run("vcon recv 0 %d" % MIB, timeout=600))
    writer.join(600)
    assert r.get("bytes") == str(MIB), r
    assert r.get("md5") == hashlib.md5(data).hexdigest(), r
    host.close()


def test_vcon_host_reconnect(make_vm):
    vm, path, host = console_vm(make_vm)
    ok(vm.run("vcon open 0"))
    host.close()
    ok(vm.run("vcon wait 0 0", timeout=60))
    # nobody on the host side: the guest's bytes are dropped, the guest goes on
    ok(vm.run("vcon write 0 lost"))
    host = connect(path)
    ok(vm.run("vcon wait 0 1", timeout=60))
    ok(vm.run("vcon write 0 again"))
    assert read_exact(host, 6) == b"again\n"
    host.sendall(b"back")
    r = ok(vm.run("vcon recv 0 4", timeout=60))
    assert r.get("hex") == b"back".hex(), r
    host.close()


def test_vcon_hotplug_on_added_chardev(make_vm):
    vm, _, host = console_vm(make_vm)
    ok(vm.run("vcon list"))
    path = os.path.join(vm.sockdir, "hot.sock")
    vm.qmp.cmd("chardev-add", id="hot", backend={"type": "socket", "data": {
        "addr": {"type": "unix", "data": {"path": path}}, "server": True, "wait": False}})
    vm.qmp.cmd("device_add", driver="virtconsole", id="hotcon", chardev="hot", nr=2,
               name="org.hot")
    hot = connect(path)
    ok(vm.run("vcon wait 2 1", timeout=60))
    _, p = ports(vm)
    assert (p[2]["console"], p[2]["name"], p[2]["host"]) == ("1", "org.hot", "1"), p
    ok(vm.run("vcon open 2"))
    hot.sendall(b"hi")
    assert ok(vm.run("vcon recv 2 2", timeout=60)).get("hex") == b"hi".hex()
    ok(vm.run("vcon write 2 yo"))
    assert read_exact(hot, 3) == b"yo\n"
    resp = vm.qmp.execute("chardev-remove", {"id": "hot"})
    assert resp["error"]["desc"] == "Chardev 'hot' is busy", resp
    vm.qmp.cmd("device_del", id="hotcon")
    _, p = ports(vm)
    assert 2 not in p and 0 in p, p
    vm.qmp.cmd("chardev-remove", id="hot")
    hot.close()
    host.close()


@pytest.mark.parametrize("cmd", ["vcon", "vcon nope", "vcon open", "vcon open 9",
                                 "vcon recv 0", "vcon send 0 10", "vcon wait 0 2"])
def test_vcon_bad_arguments(make_vm, cmd):
    vm, _, host = console_vm(make_vm)
    r = vm.run(cmd)
    assert r.status == "error" and r.msg == "bad-arguments" and r.lines == [], r
    # a port number the device never announced
    r = vm.run("vcon open 3")
    assert r.status == "error" and r.msg == "noport", r
    host.close()


def test_vcon_no_device(booted_vm):
    r = booted_vm.run("vcon list")
    assert r.status == "error" and r.msg == "nodev", r
