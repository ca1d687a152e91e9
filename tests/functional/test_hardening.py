"""Hardening (issue 16), on -accel qtest VMs (no guest needed): hostile QMP
clients, odd files as disk images, descriptor exhaustion, -daemonize and the
small wrong answers. Error texts are those of docs/qmp.md, docs/block.md and
docs/command-line.md."""

import json
import os
import socket

from stratus_vm import QmpClient, Vm, connect_unix


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def qtest_vm(stratus, tmp_path, extra=(), **kw):
    """A VMM on -accel qtest with its -D log in tmp_path/log.txt."""
    kw.setdefault("qmp", True)
    vm = Vm(stratus, kernel=None, console=None, accel="qtest", workdir=tmp_path,
            log_file=tmp_path / "log.txt", extra_args=list(extra), **kw)
    return vm


# ---------------------------------------------------------------------------
# 1. A client that never reads its output

UNREAD = "client does not read its output"


def flood_without_reading(path, n):
    """Connect, then send n query-qmp-schema without ever reading, until the
    VMM stops taking input (the send blocks for 3 s). Returns the socket."""
    s = connect_unix(path, 10.0)
    s.settimeout(3.0)
    msg = b'{"execute":"query-qmp-schema"}'
    try:
        s.sendall(msg * n)
    except socket.timeout:
        pass
    return s


def test_unread_output_is_bounded(stratus, tmp_path):
    """10,000 unread query-qmp-schema replies (14 KB each) do not grow the VMM:
    it stops reading that client; another monitor keeps answering, its events
    go on to the stuck client only up to the hard limit, where the stuck client
    is dropped with one log line and its monitor takes a new client."""
    a = str(tmp_path / "a.sock")
    b = str(tmp_path / "b.sock")
    vm = qtest_vm(stratus, tmp_path, qmp=False,
                  extra=["-qmp", "unix:%s,server,nowait,rate-limit=off" % a,
                         "-qmp", "unix:%s,server,nowait,rate-limit=off" % b])
    vm.launch()
    try:
        qb = QmpClient(b, alive=vm.is_running)
        assert "return" in qb.execute("query-qmp-schema")
        before = vm_rss_kib(vm.pid)

        stuck = flood_without_reading(a, 10000)
        assert qb.execute("query-status")["return"]["status"] == "running"
        grown = vm_rss_kib(vm.pid) - before
        assert grown < 16 * 1024, "RSS grew by %d KiB" % grown

        # STOP/RESUME events (about 90 bytes each) pile up for the stuck client
        # until the 1 MiB limit drops it.
        batch = b'{"execute":"stop"}{"execute":"cont"}' * 250
        for _ in range(30):
            qb.send_raw(batch)
            for _ in range(1000):
                qb.recv()
            if UNREAD in vm.log_text():
                break
        log = [ln for ln in vm.log_text().splitlines() if UNREAD in ln]
        assert len(log) == 1, log
        assert "WARN" in log[0] and "QMP monitor 'qmp" in log[0], log[0]
        grown = vm_rss_kib(vm.pid) - before
        assert grown < 16 * 1024, "RSS grew by %d KiB" % grown

        # The stuck client's connection ends; its monitor greets the next one.
        stuck.settimeout(10.0)
        try:
            while stuck.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass                    # closed with our commands unread
        stuck.close()
        qa = QmpClient(a, alive=vm.is_running)
        assert qa.execute("query-name", id=1) == {"return": {}, "id": 1}
        qa.close()
        assert qb.execute("query-status")["return"]["status"] == "running"
        qb.close()
    finally:
        vm.cleanup()


def test_backed_up_client_is_served_when_it_reads(stratus, tmp_path):
    """A client that floods first and reads later gets every reply, in order."""
    vm = qtest_vm(stratus, tmp_path, qmp=False,
                  extra=["-qmp", "unix:%s,server,nowait,rate-limit=off"
                         % (tmp_path / "a.sock")])
    vm.launch()
    try:
        q = QmpClient(str(tmp_path / "a.sock"), alive=vm.is_running)
        n = 300
        q.send_raw(b"".join(b'{"execute":"query-qmp-schema","id":%d}' % i
                            for i in range(n)))
        for i in range(n):
            r = q.recv(30)
            assert r.get("id") == i and isinstance(r.get("return"), list), r
        assert q.execute("query-name", id="end") == {"return": {}, "id": "end"}
        q.close()
    finally:
        vm.cleanup()
