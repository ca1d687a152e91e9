"""pytest plugin of stratus-conformance: what each functional test exercised.

Loaded with `-p conformance_plugin` by the runner (never by a plain pytest run).
The mapping from tests to report rows is observed, not declared: while a test
runs, the plugin notes

  * every command line of the VMM the test starts (subprocess.Popen whose
    program is the binary under test): options and `-device` types;
  * every QMP command written to a socket by the test's clients (QmpClient,
    the golden replayer, raw sockets: "execute"/"exec-oob" members), with the
    `driver` of device_add and the `typename` of device-list-properties /
    qom-list-properties;
  * every QMP event name read back;
  * for a test marked @pytest.mark.covers(commands=, events=, options=,
    devices=), that declaration, which the report uses only if the test
    skipped (a skip before any VMM starts shows nothing to observe).

and the test's outcome (passed, failed with the tail of its report, skipped
with its reason).  At the end it writes both, keyed by node id, as JSON to
$STRATUS_CONFORMANCE_TRACE.  A test that runs no VMM maps to no row, so a row
is only ever marked pass by a test that really drove that part of Stratus.
"""

import json
import os
import re
import shlex
import socket
import subprocess

TRACE_ENV = "STRATUS_CONFORMANCE_TRACE"
# Either quote: QMP takes QEMU's single-quoted strings too (docs/qmp.md, "Framing"),
# which the qtest programs send.
EXEC_RE = re.compile(rb'["\'](?:execute|exec-oob)["\']\s*:\s*["\']([^"\'\\]{1,80})["\']')
EVENT_RE = re.compile(rb'["\']event["\']\s*:\s*["\']([A-Za-z0-9_-]{1,80})["\']')
TYPE_RE = re.compile(rb'["\'](?:driver|typename)["\']\s*:\s*["\']([^"\'\\]{1,80})["\']')
TYPE_COMMANDS = {"device_add", "device-list-properties", "qom-list-properties"}
MAX_MESSAGE = 200       # lines of a failure report kept


class Recorder:
    """The facts of each test (node id -> dict); the current test is set by
    the runtest hooks, and what happens outside a test goes to "<session>"."""

    def __init__(self, binary):
        self.binaries = set()
        if binary:
            self.binaries.add(os.path.realpath(binary))
        self.current = None
        self.tests = {}

    def entry(self):
        return self.tests.setdefault(self.current or "<session>", {
            "argv": [], "commands": set(), "events": set(), "types": set(),
            "phases": {}})

    def is_vmm(self, prog):
        real = os.path.realpath(prog) if os.sep in prog else prog
        return real in self.binaries or os.path.basename(prog) in (
            "stratus", "stratus-system-x86_64")

    def spawned(self, args):
        if isinstance(args, (str, bytes)):
            try:
                args = shlex.split(os.fsdecode(args))
            except ValueError:
                return
        args = [os.fsdecode(a) for a in args]
        if args and self.is_vmm(args[0]):
            self.entry()["argv"].append(args[1:])

    def sent(self, data):
        data = bytes(data)
        e = self.entry()
        found = list(EXEC_RE.finditer(data))
        for i, m in enumerate(found):
            name = m.group(1).decode(errors="replace")
            e["commands"].add(name)
            if name in TYPE_COMMANDS:
                end = found[i + 1].start() if i + 1 < len(found) else len(data)
                for t in TYPE_RE.finditer(data, m.end(), end):
                    e["types"].add(t.group(1).decode(errors="replace"))

    def received(self, data):
        for m in EVENT_RE.finditer(bytes(data)):
            self.entry()["events"].add(m.group(1).decode())

    def dump(self):
        out = {}
        for nodeid, e in self.tests.items():
            out[nodeid] = dict(e, commands=sorted(e["commands"]), events=sorted(e["events"]),
                               types=sorted(e["types"]))
        return out


def _install_hooks(rec):
    """Wrap the socket and subprocess entry points the tests use."""
    sock = socket.socket

    def wrap_send(name):
        orig = getattr(sock, name)

        def send(self, data, *a, **kw):
            rec.sent(data)
            return orig(self, data, *a, **kw)
        setattr(sock, name, send)

    for name in ("send", "sendall"):
        wrap_send(name)

    orig_sendmsg = sock.sendmsg

    def sendmsg(self, buffers, *a, **kw):
        buffers = list(buffers)
        for b in buffers:
            rec.sent(b)
        return orig_sendmsg(self, buffers, *a, **kw)
    sock.sendmsg = sendmsg

    orig_recv = sock.recv

    def recv(self, *a, **kw):
        data = orig_recv(self, *a, **kw)
        rec.received(data)
        return data
    sock.recv = recv

    orig_recv_into = sock.recv_into

    def recv_into(self, buf, *a, **kw):
        n = orig_recv_into(self, buf, *a, **kw)
        rec.received(memoryview(buf)[:n])
        return n
    sock.recv_into = recv_into

    orig_recvmsg = sock.recvmsg

    def recvmsg(self, *a, **kw):
        r = orig_recvmsg(self, *a, **kw)
        rec.received(r[0])
        return r
    sock.recvmsg = recvmsg

    orig_popen = subprocess.Popen.__init__

    def popen_init(self, args, *a, **kw):
        rec.spawned(args)
        orig_popen(self, args, *a, **kw)
    subprocess.Popen.__init__ = popen_init


_recorder = None


def pytest_configure(config):
    global _recorder   # one recorder per pytest process: the plugin's own state
    if os.environ.get(TRACE_ENV):
        _recorder = Recorder(os.environ.get("STRATUS_BIN"))
        _install_hooks(_recorder)


def pytest_collection_modifyitems(session, config, items):
    """@pytest.mark.covers(...): what a test would exercise, used for the rows
    of a test that skipped before it could show it (conformance_report)."""
    if not _recorder:
        return
    for item in items:
        declared = {}
        for m in item.iter_markers("covers"):
            for k, v in m.kwargs.items():
                declared.setdefault(k, []).extend(v)
        if declared:
            _recorder.current = item.nodeid
            _recorder.entry()["declared"] = declared
    _recorder.current = None


def pytest_runtest_logstart(nodeid, location):
    if _recorder:
        _recorder.current = nodeid
        _recorder.entry()


def pytest_runtest_logfinish(nodeid, location):
    if _recorder:
        _recorder.current = None


def _reason(report):
    if report.skipped:
        lr = report.longrepr
        reason = lr[2] if isinstance(lr, tuple) and len(lr) == 3 else str(lr)
        return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
    text = report.longreprtext or ""
    lines = text.splitlines()
    return "\n".join(lines[-MAX_MESSAGE:])


def pytest_runtest_logreport(report):
    if not _recorder:
        return
    phases = _recorder.tests.setdefault(report.nodeid, {
        "argv": [], "commands": set(), "events": set(), "types": set(),
        "phases": {}})["phases"]
    phases[report.when] = {"outcome": report.outcome, "duration": report.duration,
                           "message": _reason(report) if report.outcome != "passed" else ""}


def pytest_sessionfinish(session, exitstatus):
    if _recorder:
        with open(os.environ[TRACE_ENV], "w") as f:
            json.dump({"exitstatus": int(exitstatus), "tests": _recorder.dump()}, f, indent=1)
