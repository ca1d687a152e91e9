"""Hardening (issue 16), on -accel qtest VMs (no guest needed): hostile QMP
clients, odd files as disk images, descriptor exhaustion, -daemonize and the
small wrong answers. Error texts are those of docs/qmp.md, docs/block.md and
docs/command-line.md."""

import json
import os
import resource
import signal
import socket
import subprocess
import time

import pytest

from stratus_vm import QmpClient, Vm, connect_unix, pid_alive, wait_pid


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def without_asan_quarantine():
    """The environment for a VMM whose RSS a test measures: an ASan build keeps
    freed blocks in a quarantine (256 MiB by default) that would count as
    growth; with it off, RSS is what the VMM holds.  No effect on other builds."""
    opts = [o for o in os.environ.get("ASAN_OPTIONS", "").split(":") if o]
    opts += ["quarantine_size_mb=0", "thread_local_quarantine_size_kb=0"]
    return {"ASAN_OPTIONS": ":".join(opts)}


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
    vm = qtest_vm(stratus, tmp_path, qmp=False, env=without_asan_quarantine(),
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


# ---------------------------------------------------------------------------
# 2. Odd files as images; signals during start-up

NOT_IMAGE = "Block file '%s' is not a regular file or a block device"


def run_stratus(stratus, args, timeout=20):
    return subprocess.run([str(stratus), "-accel", "qtest"] + args, capture_output=True,
                          text=True, timeout=timeout)


def error_line(p):
    lines = p.stderr.splitlines()
    assert p.returncode == 1 and len(lines) == 1, (p.returncode, p.stderr)
    assert lines[0].startswith("stratus: error: "), lines[0]
    return lines[0][len("stratus: error: "):]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("readonly", [",readonly=on", ""])
def test_drive_fifo_refused(stratus, tmp_path, fifo, readonly):
    """No writer ever opens the FIFO: start-up must not wait for one."""
    p = run_stratus(stratus, ["-qmp", "unix:%s,server,nowait" % (tmp_path / "q.sock"),
                              "-drive", "id=d0,file=%s%s" % (fifo, readonly),
                              "-device", "virtio-blk-device,drive=d0,id=disk0"])
    assert NOT_IMAGE % fifo in error_line(p)


@pytest.mark.parametrize("path", ["fifo", "/dev/null", "dir"])
def test_blockdev_add_odd_file_refused(stratus, tmp_path, fifo, path):
    """blockdev-add of a FIFO, a character device or a directory: an error at
    once, and the monitor goes on (it used to block the main loop)."""
    if path == "fifo":
        path = str(fifo)
    elif path == "dir":
        path = str(tmp_path)
    vm = qtest_vm(stratus, tmp_path)
    vm.launch()
    try:
        for ro in (True, False):
            r = vm.qmp.execute("blockdev-add", {
                "node-name": "n0", "read-only": ro,
                "file": {"driver": "file", "filename": path}})
            assert r == {"error": {"class": "GenericError",
                                   "desc": NOT_IMAGE % path}}, r
        assert vm.qmp.execute("query-status")["return"]["status"] == "running"
    finally:
        vm.cleanup()


def test_kernel_fifo_refused(stratus, tmp_path, fifo):
    p = subprocess.run([str(stratus), "-kernel", str(fifo),
                        "-qmp", "unix:%s,server,nowait" % (tmp_path / "q.sock")],
                       capture_output=True, text=True, timeout=20)
    assert error_line(p) == "kernel '%s' is not a regular file" % fifo


def wait_in_syscall(pid, nr, timeout=20.0):
    """Until the main thread of pid sits in system call nr (/proc/PID/syscall)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/%d/syscall" % pid) as f:
            if f.read().split()[0] == str(nr):
                return
        time.sleep(0.02)
    raise AssertionError("pid %d never blocked in system call %d" % (pid, nr))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_ends_blocked_startup(stratus, tmp_path, sig):
    """A client-mode QMP monitor whose peer's backlog is full blocks start-up
    in connect(); a signal ends it (after the 2 s grace): status 1, one error
    line, the pidfile removed."""
    path = str(tmp_path / "peer.sock")
    pidfile = tmp_path / "vm.pid"
    peer = socket.socket(socket.AF_UNIX)
    peer.bind(path)
    peer.listen(0)
    backlog = []
    while True:                     # fill the backlog
        s = socket.socket(socket.AF_UNIX)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            break
        backlog.append(s)
    proc = subprocess.Popen([str(stratus), "-accel", "qtest", "-qmp", "unix:" + path,
                             "-daemonize", "-pidfile", str(pidfile)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    daemon = None
    try:
        deadline = time.monotonic() + 20
        while daemon is None and time.monotonic() < deadline:
            if pidfile.exists() and pidfile.read_text().strip():
                daemon = int(pidfile.read_text())
            time.sleep(0.02)
        assert daemon, "no pidfile"
        wait_in_syscall(daemon, 42)     # connect
        os.kill(daemon, sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if daemon and pid_alive(daemon):
            os.kill(daemon, signal.SIGKILL)
        for s in backlog:
            s.close()
        peer.close()
    # The launcher reports the daemon's status; the daemon's stderr is ours until
    # it detaches, which it never got to.
    assert proc.returncode == 1
    assert err == "stratus: error: start-up interrupted by %s\n" % sig.name, err
    assert not pidfile.exists()


# ---------------------------------------------------------------------------
# 3. Out of file descriptors; named fds bounded

TOO_MANY_FDS = "Too many named file descriptors on this monitor (at most 64)"


def getfd(q, name, fd):
    socket.send_fds(q.sock, [json.dumps({"execute": "getfd",
                                         "arguments": {"fdname": name}}).encode()], [fd])
    return q.recv()


def test_named_fds_bounded(stratus, tmp_path):
    vm = qtest_vm(stratus, tmp_path, extra=["-qmp", "unix:%s,server,nowait,rate-limit=off"
                                            % (tmp_path / "b.sock")])
    vm.launch()
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        q = vm.qmp
        for i in range(64):
            assert getfd(q, "f%d" % i, fd) == {"return": {}}
        assert getfd(q, "f64", fd) == {"error": {"class": "GenericError",
                                                 "desc": TOO_MANY_FDS}}
        assert getfd(q, "f3", fd) == {"return": {}}         # a name used again
        assert q.execute("closefd", {"fdname": "f3"}) == {"return": {}}
        assert getfd(q, "f64", fd) == {"return": {}}
        # The bound is per monitor.
        qb = QmpClient(str(tmp_path / "b.sock"), alive=vm.is_running)
        assert getfd(qb, "f0", fd) == {"return": {}}
        qb.close()
    finally:
        os.close(fd)
        vm.cleanup()


ACCEPT_FAIL = "cannot accept a connection: Too many open files; retrying every 1000 ms"


def test_emfile_on_accept_backs_off(stratus, tmp_path):
    """With its descriptors used up by getfd, the VMM cannot accept a pending
    connection on another monitor: one log line, the listener retried once a
    second (not a busy loop), and the client is greeted once fds are freed."""
    b = str(tmp_path / "b.sock")
    c = str(tmp_path / "c.sock")
    vm = qtest_vm(stratus, tmp_path, extra=["-qmp", "unix:%s,server,nowait" % b,
                                            "-serial", "socket,path=%s,server,nowait" % c],
                  env={"STRATUS_LOG_LEVEL": "debug"})
    vm.launch()
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        q = vm.qmp
        used = len(os.listdir("/proc/%d/fd" % vm.pid))
        resource.prlimit(vm.pid, resource.RLIMIT_NOFILE, (used + 10, used + 10))
        names = []
        for i in range(20):
            r = getfd(q, "f%d" % i, fd)
            if "error" in r:
                assert r["error"]["desc"] == "Invalid SCM message", r
                break
            names.append("f%d" % i)
        assert len(os.listdir("/proc/%d/fd" % vm.pid)) == used + 10
        pending = socket.socket(socket.AF_UNIX)
        pending.connect(b)                  # queued: accept() gets EMFILE
        console = socket.socket(socket.AF_UNIX)
        console.connect(c)                  # the same for a chardev socket
        for _ in range(3):                  # three back-off rounds at least
            assert q.execute("query-status")["return"]["status"] == "running"
            time.sleep(1.0)
        log = vm.log_text()
        fails = [ln for ln in log.splitlines() if ACCEPT_FAIL in ln]
        assert len(fails) == 2, fails
        assert any("QMP monitor 'qmp1'" in ln for ln in fails), fails
        assert any("chardev 'serial_chardev'" in ln for ln in fails), fails
        retries = log.count("QMP monitor 'qmp1': listening again")
        assert 1 <= retries <= 10, retries  # a busy loop made thousands of tries
        assert 1 <= log.count("': listening again") - retries <= 10
        for name in names:
            assert q.execute("closefd", {"fdname": name}) == {"return": {}}
        pending.settimeout(10)
        assert b'"QMP"' in pending.recv(4096)
        pending.close()
        console.close()
        assert q.execute("query-status")["return"]["status"] == "running"
    finally:
        os.close(fd)
        vm.cleanup()


# ---------------------------------------------------------------------------
# 4. -daemonize closes what it inherited

def test_daemonize_closes_inherited_fds(stratus, tmp_path):
    """Inherited descriptors are closed in the daemon, except those the command
    line names (a -chardev socket,fd=N monitor here) and the -D log."""
    pidfile = tmp_path / "vm.pid"
    mine, theirs = socket.socketpair()
    stray_r, stray_w = os.pipe()
    stray_file = os.open(str(tmp_path / "stray"), os.O_WRONLY | os.O_CREAT)
    inherited = [theirs.fileno(), stray_r, stray_w, stray_file]
    p = subprocess.run([str(stratus), "-accel", "qtest", "-daemonize", "-pidfile",
                        str(pidfile), "-D", str(tmp_path / "log.txt"),
                        "-chardev", "socket,id=m,fd=%d" % theirs.fileno(),
                        # lenient: a -mon under qtest is strict by default (libqtest's)
                        "-mon", "chardev=m,mode=control,qmp-mode=lenient"],
                       pass_fds=inherited, capture_output=True, text=True, timeout=20)
    daemon = int(pidfile.read_text())
    try:
        assert p.returncode == 0, p.stderr
        targets = {os.readlink("/proc/%d/fd/%s" % (daemon, fd))
                   for fd in os.listdir("/proc/%d/fd" % daemon)}
        assert os.readlink("/proc/self/fd/%d" % theirs.fileno()) in targets
        assert str(tmp_path / "log.txt") in targets
        for fd in (stray_r, stray_w, stray_file):
            assert os.readlink("/proc/self/fd/%d" % fd) not in targets, targets
        theirs.close()
        q = QmpClient(None, connect=False)
        q.sock = mine
        assert "QMP" in q.recv()
        assert q.execute("quit") == {"return": {}}
        wait_pid(daemon, 15)
    finally:
        for fd in (stray_r, stray_w, stray_file):
            os.close(fd)
        mine.close()
        if pid_alive(daemon):
            os.kill(daemon, signal.SIGKILL)


# ---------------------------------------------------------------------------
# 5. The small wrong answers

@pytest.mark.parametrize("raw", [b"1e400", b"18446744073709551616", b"-0", b"1.50",
                                 b"-9223372036854775809", b"0.1E+1", b"7"])
def test_numeric_id_echoed_as_sent(stratus, tmp_path, raw):
    vm = qtest_vm(stratus, tmp_path)
    vm.launch()
    try:
        q = vm.qmp
        q.send_raw(b'{"execute":"query-name","id":%s}' % raw)
        assert q.recv_line() == '{"return":{},"id":%s}' % raw.decode()
        q.send_raw(b'{"execute":"no-such","id":%s}' % raw)
        assert q.recv_line() == ('{"error":{"class":"CommandNotFound","desc":'
                                 '"The command no-such has not been found"},"id":%s}'
                                 % raw.decode())
    finally:
        vm.cleanup()


@pytest.mark.parametrize("index", ["4294967296", "-1", " 0", "+0", "00", "0x0"])
def test_qom_device_index_not_found(stratus, tmp_path, index):
    vm = qtest_vm(stratus, tmp_path)
    vm.launch()
    try:
        path = "/machine/unattached/device[%s]" % index
        assert vm.qmp.execute("qom-get", {"path": path, "property": "type"}) == {
            "error": {"class": "DeviceNotFound", "desc": "Device '%s' not found" % path}}
        assert vm.qmp.execute("qom-get", {"path": "/machine/unattached/device[0]",
                                          "property": "type"}) == {"return": "host-x86-cpu"}
    finally:
        vm.cleanup()


@pytest.mark.parametrize("index", [-1, 1, 2 ** 62, 2 ** 63 - 1])
def test_hmp_cpu_index_range(stratus, tmp_path, index):
    vm = qtest_vm(stratus, tmp_path)
    vm.launch()
    try:
        r = vm.qmp.execute("human-monitor-command",
                           {"command-line": "info cpus", "cpu-index": index})
        assert r == {"error": {"class": "GenericError",
                               "desc": "Parameter 'cpu-index' expects a CPU number"}}
    finally:
        vm.cleanup()


@pytest.mark.parametrize("line", [b"\n", b"\r\n", b"\0\n", b"\0\0\0\n"])
def test_qtest_empty_line_fails(stratus, tmp_path, line):
    """An empty or NUL-only line on the qtest socket gets a FAIL (it got nothing)."""
    path = str(tmp_path / "qtest.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    vm = qtest_vm(stratus, tmp_path, extra=["-qtest", "unix:" + path])
    vm.launch()
    try:
        srv.settimeout(10)
        conn, _ = srv.accept()
        conn.settimeout(10)
        conn.sendall(line + b"endianness\n")
        got = b""
        while got.count(b"\n") < 2:
            got += conn.recv(4096)
        assert got == b"FAIL Unknown command ''\nOK little\n"
        conn.close()
    finally:
        srv.close()
        vm.cleanup()


# ---------------------------------------------------------------------------
# 6. Confinement: -sandbox (seccomp), -runas, -chroot

def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split()[1:]
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


SANDBOX_HOOKED = pytest.mark.skipif(
    "-sandbox" in os.environ.get("STRATUS_TEST_EXTRA_ARGS", "")
    or "-disable-seccomp" in os.environ.get("STRATUS_TEST_EXTRA_ARGS", ""),
    reason="STRATUS_TEST_EXTRA_ARGS overrides the -sandbox these tests assert")


@SANDBOX_HOOKED
@pytest.mark.parametrize("opts", [[], ["-sandbox", "on"], ["-disable-seccomp", "-sandbox", "on"]])
def test_sandbox_on_filters_and_serves(stratus, tmp_path, opts):
    """On by default; the last of -sandbox / -disable-seccomp wins."""
    vm = qtest_vm(stratus, tmp_path, extra=opts)
    vm.launch()
    try:
        assert proc_status(vm.pid, "Seccomp") == ["2"]
        assert proc_status(vm.pid, "NoNewPrivs") == ["1"]
        assert vm.qmp.execute("query-status")["return"]["status"] == "running"
        assert vm.qmp.execute("quit") == {"return": {}}
        assert vm.wait() == 0
    finally:
        vm.cleanup()


@SANDBOX_HOOKED
@pytest.mark.parametrize("opts", [["-sandbox", "off"], ["-disable-seccomp"],
                                  ["-sandbox", "on", "-disable-seccomp"]])
def test_sandbox_off(stratus, tmp_path, opts):
    vm = qtest_vm(stratus, tmp_path, extra=opts)
    vm.launch()
    try:
        assert proc_status(vm.pid, "Seccomp") == ["0"]
    finally:
        vm.cleanup()


@pytest.mark.parametrize("opts", [[], ["-sandbox", "on"]])
def test_sandbox_forbidden_call_kills(stratus, tmp_path, opts):
    p = subprocess.run([str(stratus), "-accel", "qtest"] + opts + ["-qmp",
                        "unix:%s,server,nowait" % (tmp_path / "q.sock")],
                       env=dict(os.environ, STRATUS_SECCOMP_SELFTEST="1"),
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == -signal.SIGSYS, (p.returncode, p.stderr)


@SANDBOX_HOOKED
def test_sandbox_debug_logs_the_call(stratus, tmp_path):
    vm = qtest_vm(stratus, tmp_path, extra=["-sandbox", "on,debug=on"],
                  env={"STRATUS_SECCOMP_SELFTEST": "1"})
    vm.launch()
    try:
        assert vm.qmp.execute("query-status")["return"]["status"] == "running"
        err = vm.stderr_text()
        assert "stratus: seccomp: forbidden system call getpriority (140)\n" in err
        # an ioctl request on no list (TIOCSTI): logged with the request, fails ENOSYS
        assert "stratus: seccomp: forbidden system call ioctl (16) request 0x5412\n" in err
        assert "stratus: seccomp self-test: ioctl TIOCSTI failed with ENOSYS\n" in err
    finally:
        vm.cleanup()


@pytest.mark.parametrize("value,desc", [
    ("maybe", "-sandbox: invalid value 'maybe' (expected on or off)"),
    ("on,spawn=deny", "-sandbox: invalid parameter 'spawn=deny' (expected debug=on|off)"),
])
def test_sandbox_bad_values(stratus, tmp_path, value, desc):
    p = run_stratus(stratus, ["-sandbox", value])
    assert error_line(p) == desc


@pytest.mark.skipif(os.geteuid() != 0, reason="-runas/-chroot need root")
def test_runas_and_chroot(stratus, tmp_path):
    root = tmp_path / "jail"
    root.mkdir()
    sockdir = tmp_path / "s"
    sockdir.mkdir()
    os.chmod(sockdir, 0o777)
    vm = qtest_vm(stratus, tmp_path, extra=["-runas", "nobody", "-chroot", str(root)])
    vm.launch()
    try:
        assert proc_status(vm.pid, "Uid")[:2] == ["65534", "65534"]
        assert proc_status(vm.pid, "CapEff") == ["0000000000000000"]
        assert os.readlink("/proc/%d/root" % vm.pid) == str(root)
        assert vm.qmp.execute("query-status")["return"]["status"] == "running"
    finally:
        vm.cleanup()


def test_runas_unknown_user(stratus, tmp_path):
    p = run_stratus(stratus, ["-runas", "no-such-user-xyz",
                              "-qmp", "unix:%s,server,nowait" % (tmp_path / "q.sock")])
    assert error_line(p) == "-runas: user 'no-such-user-xyz' not found"
