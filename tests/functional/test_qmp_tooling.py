"""Stratus driven the way existing tools drive QEMU/StratoVirt:

* `ncat -U socket` as in the seeds (newline-terminated input typed into ncat);
* QEMU's python client conventions (qemu-reference section 4): python3-qemu.qmp is not
  packaged for Debian 12, so LegacyQMP below re-implements exactly the sync
  `qemu.qmp.legacy.QEMUMonitorProtocol` flow: connect, read and validate the greeting,
  negotiate with `{"execute":"qmp_capabilities","arguments":{}}` (no id, no newline,
  since no "oob" is offered), requests as compact JSON without a newline and without
  id (cmd_obj/cmd_raw) or with `__qmp#NNNNN` ids (the async client), replies read
  with readline(), events queued for pull_event(), fds sent with a lone b' ';
* qmp-shell-style `command key=value` lines (dotted keys nest, values are JSON
  literals or strings) and its -H HMP mode;
* lifecycle: SIGTERM, guest poweroff/reboot and the SHUTDOWN events, query-cpus
  thread ids against /proc/PID/task;
* query-kvm / `info kvm` answer for the accelerator the VM runs on: enabled only
  on kvm, present iff /dev/kvm is usable on this host.
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import shutil
import time

import pytest

from conftest import kvm_usable
from stratus_vm import Console, connect_unix
from test_golden import GoldenVm, Normaliser, parse, wire_problems

def query_kvm_answer(accel):
    """query-kvm's return for a VM on accel: "enabled" iff it runs on KVM,
    "present" iff /dev/kvm is usable on this host (whatever the VM runs on)."""
    return {"enabled": accel == "kvm", "present": kvm_usable()}


def info_kvm_answer(accel):
    return "kvm support: %s\r\n" % ("enabled" if accel == "kvm" else "disabled")


LEGACY_GREETING = ('{"QMP":{"version":{"StratoVirt":{"micro":1,"minor":0,"major":0},'
                   '"package":""},"capabilities":[]}}')


def boot(make_vm, qmp_opts="", **kw):
    vm = make_vm(cls=GoldenVm, qmp_opts=qmp_opts, connect_qmp=False, **kw)
    vm.launch()
    if not kw.get("freeze"):
        vm.console.wait_prompt()
    return vm


def same(actual_line, expected_line, vm):
    """Golden-style comparison (member order kept, timestamps/tids normalised)."""
    return Normaliser(vm, actual=True)(parse(actual_line)) == Normaliser()(parse(expected_line))


# ---------------------------------------------------------------------------
# ncat -U, as in the seeds

class Ncat:
    def __init__(self, path):
        self.p = subprocess.Popen(["ncat", "-U", path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self.buf = b""

    def type(self, line):
        self.p.stdin.write(line.encode() + b"\n")

    def line(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("ncat printed nothing within %.1fs (have %r)"
                                     % (timeout, self.buf))
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                data = os.read(self.p.stdout.fileno(), 65536)
                if not data:
                    raise AssertionError("ncat exited: %r" % self.p.stderr.read())
                self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


@pytest.fixture(scope="module")
def ncat_bin():
    path = shutil.which("ncat")
    if not path:
        pytest.skip("ncat not installed (apt-get install ncat)")
    return path


def test_ncat_session(make_vm, ncat_bin):
    """The seeds' session: greeting, then commands typed one per line."""
    vm = boot(make_vm, ",qmp-greeting=legacy")
    nc = Ncat(vm.qmp_path)
    try:
        g = nc.line()
        assert g == LEGACY_GREETING.encode() + b"\r\n"
        script = [
            ('{ "execute": "query-status" }',
             ['{"return":{"running":true,"singlestep":false,"status":"running"}}']),
            ('{"execute":"stop"}',
             ['{"event":"STOP","data":{},"timestamp":{"seconds":1,"microseconds":1}}',
              '{"return":{}}']),
            ('{"execute":"cont"}',
             ['{"event":"RESUME","data":{},"timestamp":{"seconds":1,"microseconds":1}}',
              '{"return":{}}']),
            ('{"execute":"quit"}',
             ['{"return":{}}',
              '{"event":"SHUTDOWN","data":{"guest":false,"reason":"host-qmp-quit"},'
              '"timestamp":{"seconds":1,"microseconds":1}}']),
        ]
        for typed, replies in script:
            nc.type(typed)
            for want in replies:
                raw = nc.line()
                assert not wire_problems(raw), (raw, wire_problems(raw))
                assert same(raw.decode(), want, vm), (typed, raw, want)
        assert vm.wait(15) == 0
        nc.p.stdin.close()
        assert nc.p.wait(10) == 0       # ncat ends when Stratus hangs up
    finally:
        nc.close()


def test_ncat_piped_script(make_vm, ncat_bin, accel):
    """The whole session piped into ncat at once (stdin EOF after quit)."""
    vm = boot(make_vm)
    script = ('{"execute":"qmp_capabilities"}\n{"execute":"query-name"}\n'
              '{"execute":"query-kvm"}\n{"execute":"quit"}\n')
    out = subprocess.run(["ncat", "-U", vm.qmp_path], input=script.encode(),
                         capture_output=True, timeout=20)
    lines = out.stdout.split(b"\r\n")
    assert lines[-1] == b""
    kvm = json.dumps(query_kvm_answer(accel), separators=(",", ":")).encode()
    assert lines[1:-2] == [b'{"return":{}}', b'{"return":{}}',
                           b'{"return":' + kvm + b'}', b'{"return":{}}']
    assert json.loads(lines[-2])["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert vm.wait(15) == 0


# ---------------------------------------------------------------------------
# qemu.qmp's legacy sync client, re-implemented after qemu-reference section 4

class QMPError(Exception):
    pass


class GreetingError(QMPError):
    pass


class NegotiationError(QMPError):
    pass


class ExecuteError(QMPError):
    def __init__(self, reply):
        self.reply = reply
        self.error_class = reply["error"]["class"]
        self.desc = reply["error"]["desc"]
        super().__init__("%s: %s" % (self.error_class, self.desc))


class LegacyQMP:
    """qemu.qmp.legacy.QEMUMonitorProtocol: QEMUMonitorProtocol(address) then
    connect(negotiate=True) -> greeting; cmd_obj/cmd_raw -> raw reply (no id);
    cmd(name, **args) -> return value or ExecuteError; pull_event/get_events;
    send_fd_scm; close."""

    def __init__(self, address, nickname=None):
        self.address = address
        self.sock = None
        self.rfile = None
        self._events = []
        self._greeting = None
        self._next_id = 0

    # -- transport: compact JSON, no newline (QMPClient._do_send); readline replies
    def _send(self, msg):
        self.sock.sendall(json.dumps(msg, separators=(",", ":")).encode())

    def _readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise EOFError("server hung up")
        if not line.endswith(b"\n"):
            raise QMPError("reply longer than the 64 KiB StreamReader limit")
        return json.loads(line)

    def _reply(self, want_id=None):
        while True:
            msg = self._readline()
            if "event" in msg:
                self._events.append(msg)
                continue
            if msg.get("id") != want_id:
                # qemu.qmp: an id-less error while no id-less request is pending is a
                # ServerParseError; a reply with an unknown id is dropped
                if want_id is not None and "id" not in msg and "error" in msg:
                    raise QMPError("ServerParseError: %r" % msg)
                continue
            if "return" not in msg and "error" not in msg:
                raise QMPError("BadReplyError: %r" % msg)
            return msg

    def connect(self, negotiate=True):
        # (the harness waits for the socket to appear; the protocol starts after)
        self.sock = connect_unix(self.address, 10.0)
        self.rfile = self.sock.makefile("rb")
        greeting = self._readline()
        qmp = greeting.get("QMP") if isinstance(greeting, dict) else None
        if not (isinstance(qmp, dict) and isinstance(qmp.get("version"), dict) and
                isinstance(qmp.get("capabilities"), list)):
            raise GreetingError(repr(greeting))
        self._greeting = greeting
        if negotiate:
            caps = qmp["capabilities"]
            args = {"enable": ["oob"]} if "oob" in caps else {}
            self._send({"execute": "qmp_capabilities", "arguments": args})
            reply = self._reply()
            if "return" not in reply:
                raise NegotiationError(repr(reply))
        return greeting

    def settimeout(self, t):
        self.sock.settimeout(t)

    def cmd_obj(self, qmp_cmd):
        self._send(qmp_cmd)
        return self._reply(qmp_cmd.get("id"))

    def cmd_raw(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        return self.cmd_obj(msg)

    def cmd(self, cmd, args=None, **kwargs):
        reply = self.cmd_raw(cmd, args or kwargs or None)
        if "error" in reply:
            raise ExecuteError(reply)
        return reply["return"]

    def execute(self, cmd, args=None):
        """The async QMPClient's way: an auto-assigned '__qmp#NNNNN' id."""
        msg_id = "__qmp#%05d" % self._next_id
        self._next_id += 1
        msg = {"execute": cmd, "id": msg_id}
        if args:
            msg["arguments"] = args
        reply = self.cmd_obj(msg)
        assert reply["id"] == msg_id
        if "error" in reply:
            raise ExecuteError(reply)
        return reply["return"]

    def pull_event(self, wait=False):
        if not self._events and wait:
            if wait is not True:
                self.sock.settimeout(wait)
            try:
                self._events.append(self._readline())
            finally:
                self.sock.settimeout(None)
        return self._events.pop(0) if self._events else None

    def get_events(self, wait=False):
        if wait:
            self.pull_event(wait)
            self._events.insert(0, None)
            self._events.pop(0)
        events, self._events = self._events, []
        return events

    def clear_events(self):
        self._events = []

    def send_fd_scm(self, fd):
        socket.send_fds(self.sock, [b" "], [fd])

    def close(self):
        if self.rfile:
            self.rfile.close()
        if self.sock:
            self.sock.close()


@pytest.mark.parametrize("mode", ["lenient", "strict"])
def test_python_legacy_client(make_vm, mode):
    vm = boot(make_vm, ",qmp-mode=" + mode, smp=2)
    qmp = LegacyQMP(vm.qmp_path)
    greeting = qmp.connect(negotiate=True)
    assert greeting["QMP"]["version"]["qemu"] == {"micro": 1, "minor": 0, "major": 5}
    assert greeting["QMP"]["capabilities"] == (["oob"] if mode == "strict" else [])

    assert qmp.cmd("query-status") == {"running": True, "singlestep": False,
                                       "status": "running"}
    assert qmp.cmd_raw("query-name") == {"return": {}}      # no id: reply without id
    assert qmp.execute("query-target") == {"arch": "x86_64"}
    with pytest.raises(ExecuteError) as e:
        qmp.cmd("no-such-command")
    assert e.value.error_class == "CommandNotFound"
    with pytest.raises(ExecuteError) as e:
        qmp.execute("human-monitor-command", {"command-line": 5})
    assert e.value.error_class == "GenericError"
    hmp = qmp.cmd("human-monitor-command", **{"command-line": "info status"})
    assert hmp == "VM status: running\r\n"

    # events: QEMUMachine.event_wait-style
    assert qmp.cmd("stop") == {}
    ev = qmp.pull_event(wait=5.0)
    assert ev["event"] == "STOP" and ev["data"] == {}
    assert set(ev["timestamp"]) == {"seconds", "microseconds"}
    assert qmp.cmd("query-status")["status"] == "paused"
    assert qmp.cmd("cont") == {}
    assert [e["event"] for e in qmp.get_events()] == ["RESUME"]

    # fd passing the qemu.qmp way: a lone space with SCM_RIGHTS, then getfd
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        qmp.send_fd_scm(fd)
    finally:
        os.close(fd)
    assert qmp.cmd("getfd", fdname="fd-from-python") == {}
    assert qmp.cmd("closefd", fdname="fd-from-python") == {}

    # query-cpus for QEMUMachine users: thread ids are the VMM's threads
    tids = {c["thread_id"] for c in qmp.cmd("query-cpus")}
    fast = {c["thread-id"] for c in qmp.cmd("query-cpus-fast")}
    assert tids == fast and len(tids) == 2
    assert tids <= {int(t) for t in os.listdir("/proc/%d/task" % vm.pid)}

    # QEMUMachine.shutdown(): quit, close tolerating EOF, wait for exit 0
    assert qmp.cmd("quit") == {}
    ev = qmp.pull_event(wait=5.0)
    assert ev["event"] == "SHUTDOWN"
    assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}
    with pytest.raises(EOFError):
        qmp.pull_event(wait=5.0)
    qmp.close()
    assert vm.wait(15) == 0


def test_strict_mode_refuses_commands_before_negotiation(make_vm):
    vm = boot(make_vm, ",qmp-mode=strict")
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect(negotiate=False)
    reply = qmp.cmd_raw("query-status")
    assert reply == {"error": {"class": "CommandNotFound",
                               "desc": "Expecting capabilities negotiation with "
                                       "'qmp_capabilities'"}}
    # no events before negotiation: stop must fail without STOP reaching us
    assert qmp.cmd_raw("stop")["error"]["class"] == "CommandNotFound"
    assert qmp.cmd_raw("qmp_capabilities") == {"return": {}}
    assert qmp.get_events() == []
    assert qmp.cmd("query-status")["status"] == "running"
    qmp.close()


# ---------------------------------------------------------------------------
# qmp-shell-style usage

def shell_parse(line):
    """qmp-shell's `cmd key=value ...`: values are JSON/Python literals where they
    parse, else strings; dotted keys nest."""
    parts = line.split()
    cmd, args = parts[0], {}
    for kv in parts[1:]:
        key, _, val = kv.partition("=")
        try:
            value = json.loads(val)
        except ValueError:
            value = {"True": True, "False": False, "None": None}.get(val, val)
        d = args
        keys = key.split(".")
        for k in keys[:-1]:
            d = d.setdefault(k, {})
        d[keys[-1]] = value
    msg = {"execute": cmd}
    if args:
        msg["arguments"] = args
    return msg


def test_qmp_shell_style(make_vm, accel):
    vm = boot(make_vm, ",qmp-mode=strict", smp=2)
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect()
    # qmp-shell builds its completion list from query-commands
    names = [c["name"] for c in qmp.cmd("query-commands")]
    for required in ("qmp_capabilities", "quit", "stop", "cont", "query-status",
                     "human-monitor-command", "query-commands"):
        assert required in names
    transcript = [
        ("query-status", {"return": {"running": True, "singlestep": False,
                                     "status": "running"}}),
        ("qom-get path=/machine property=type", {"return": "microvm-machine"}),
        ("human-monitor-command command-line=info", None),
        ("getfd fdname=x", {"error": {"class": "GenericError",
                                      "desc": "Invalid SCM message"}}),
        ("qom-list-types implements=microvm-machine abstract=False",
         {"return": [{"name": "microvm-machine", "parent": "machine"}]}),
    ]
    for line, want in transcript:
        reply = qmp.cmd_obj(shell_parse(line))
        if want is not None:
            assert reply == want, (line, reply)
        else:
            # HMP's `info` lists the info commands, QEMU's format
            assert reply["return"].startswith("info balloon  -- show balloon information\r\n")
    # -H: HMP through human-monitor-command
    for hmp, want in [("info status", "VM status: running\r\n"),
                      ("info kvm", info_kvm_answer(accel))]:
        assert qmp.cmd("human-monitor-command", **{"command-line": hmp}) == want
    cpus = qmp.cmd("human-monitor-command", **{"command-line": "info cpus"})
    assert cpus.startswith("* CPU #0: thread_id=") and cpus.count("\r\n") == 2
    qmp.close()


def test_query_kvm_follows_the_accelerator(make_vm, accel):
    """query-kvm and `info kvm` say what the VM runs on (enabled only on kvm) and
    whether this host could run KVM (present iff /dev/kvm is usable), in both
    negotiation modes and before the guest has run (-S)."""
    for opts, freeze in (("", False), (",qmp-mode=strict", True)):
        vm = boot(make_vm, opts, freeze=freeze, name="vm-%s" % ("frozen" if freeze else "run"))
        qmp = LegacyQMP(vm.qmp_path)
        qmp.connect()
        assert qmp.cmd("query-kvm") == query_kvm_answer(accel)
        assert qmp.cmd("human-monitor-command", **{"command-line": "info kvm"}) == \
            info_kvm_answer(accel)
        assert qmp.cmd("quit") == {}
        qmp.close()
        assert vm.wait(15) == 0


# ---------------------------------------------------------------------------
# Lifecycle through QMP

def test_sigterm_shutdown_event(make_vm):
    vm = boot(make_vm)
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect()
    vm.send_signal(signal.SIGTERM)
    ev = qmp.pull_event(wait=10.0)
    assert ev["event"] == "SHUTDOWN"
    assert ev["data"] == {"guest": False, "reason": "host-signal"}
    assert vm.wait(15) == 0
    qmp.close()


@pytest.mark.parametrize("cmd,reason", [("poweroff", "guest-shutdown"),
                                        ("reboot", "guest-reset")])
def test_guest_initiated_shutdown_event(make_vm, cmd, reason):
    vm = boot(make_vm)
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect()
    vm.console.write(cmd + "\n")
    ev = qmp.pull_event(wait=10.0)
    assert ev["event"] == "SHUTDOWN"
    assert ev["data"] == {"guest": True, "reason": reason}
    assert vm.wait(15) == 0
    qmp.close()


def test_system_reset_reboots_the_guest(make_vm):
    """system_reset resets vCPUs and devices: the guest boots again from its entry
    point (banner, prompt) and works; repeated resets too."""
    vm = boot(make_vm, smp=2)
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect()
    # None when the guest printed it before the console connected (slow start)
    banner = vm.console.banner()
    for i in range(3):
        vm.console.drain(0.05)
        assert qmp.cmd("system_reset") == {}
        ev = qmp.pull_event(wait=5.0)
        assert ev["event"] == "RESET" and ev["data"] == {"guest": True}
        out = vm.console.read_until(r"stratus-testguest [^\r\n]*\r\n", timeout=30)
        again = re.search(r"stratus-testguest [^\r\n]*", out).group(0)
        banner = banner or again
        assert again == banner
        vm.console.wait_prompt()
        info = vm.info()
        assert info["online"] == 2
        assert vm.run("echo reset-%d" % i).get("text") == "reset-%d" % i
    assert qmp.cmd("query-status")["status"] == "running"
    qmp.close()


def test_system_reset_while_paused_stays_paused(make_vm):
    vm = boot(make_vm)
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect()
    qmp.cmd("stop")
    vm.console.drain(0.05)
    assert qmp.cmd("system_reset") == {}
    assert qmp.cmd("query-status")["status"] == "paused"
    got = vm.console.expect_silence(1.0)
    assert "stratus-testguest" not in got, got
    qmp.cmd("cont")
    vm.console.read_until(r"stratus-testguest", timeout=30)
    vm.console.wait_prompt()
    qmp.close()


def test_powerdown_of_frozen_guest_is_delivered_on_cont(make_vm):
    """The power button is latched: a -S guest that is continued later sees it."""
    vm = boot(make_vm, freeze=True)
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect()
    assert qmp.cmd("system_powerdown") == {}
    assert qmp.pull_event(wait=5.0)["event"] == "POWERDOWN"
    assert qmp.cmd("query-status")["status"] == "paused"
    assert qmp.cmd("cont") == {}
    events = []
    while not any(e["event"] == "SHUTDOWN" for e in events):
        events.append(qmp.pull_event(wait=30.0))
    assert [e["event"] for e in events] == ["RESUME", "SHUTDOWN"]
    assert events[-1]["data"] == {"guest": True, "reason": "guest-shutdown"}
    assert vm.wait(15) == 0
    assert "powerbutton=pressed" in vm.console.drain(0.2) + vm.console.transcript


def test_query_cpus_thread_ids_are_vcpu_threads(make_vm):
    vm = boot(make_vm, smp=4)
    qmp = LegacyQMP(vm.qmp_path)
    qmp.connect()
    cpus = qmp.cmd("query-cpus")
    assert [c["CPU"] for c in cpus] == [0, 1, 2, 3]
    tasks = {int(t) for t in os.listdir("/proc/%d/task" % vm.pid)}
    tids = [c["thread_id"] for c in cpus]
    assert len(set(tids)) == 4 and set(tids) <= tasks and vm.pid not in tids
    # each is a vCPU thread (running or halted in the guest), not the main thread
    for t in tids:
        with open("/proc/%d/task/%d/stat" % (vm.pid, t)) as f:
            assert f.read().split()[0] == str(t)
    qmp.close()


# ---------------------------------------------------------------------------
# qmp-shell -H: HMP through human-monitor-command, as qmp-shell's HMP mode
# drives it (re-implemented from its documented behaviour: on connect it runs
# `help` and `info` and builds its completion list from the replies, one
# command per line, "name params -- help"; then each typed line is sent with
# the current cpu-index; `cpu N` checks N with `info version` first). Before
# HMP existed the first `help` was an error and the shell died on it.

class HmpShell:
    def __init__(self, address):
        self.qmp = LegacyQMP(address)
        self.cpu_index = 0
        self.completion = []

    def connect(self):
        self.qmp.connect(negotiate=True)
        for line in self._passthrough("help")["return"].split("\r\n"):
            if line and line[0] not in "[\t":
                name = line.split()[0]
                if name == "info":
                    continue
                if "|" in name:         # "stop|s": the long name
                    alias = name.split("|")
                    name = alias[1] if len(alias[0]) == 1 else alias[0]
                self.completion += [name, "help " + name]
        for line in self._passthrough("info")["return"].split("\r\n"):
            if line:
                self.completion.append("info " + line.split()[1])
        self.completion.append("help info")

    def _passthrough(self, line, cpu_index=0):
        return self.qmp.cmd_raw("human-monitor-command",
                                {"command-line": line, "cpu-index": cpu_index})

    def run(self, line):
        """What the shell prints for the line."""
        words = line.split()
        if words and words[0] == "cpu":
            idx = int(words[1])
            if "return" not in self._passthrough("info version", idx):
                return "bad CPU index\n"
            self.cpu_index = idx
        reply = self._passthrough(line, self.cpu_index)
        if "return" in reply:
            return reply["return"] + " " if reply["return"] else ""
        return "%s: %s\n" % (reply["error"]["class"], reply["error"]["desc"])

    def close(self):
        self.qmp.close()


HMP_COMMANDS = ["cont", "cpu", "device_add", "device_del", "help", "quit", "stop", "system_powerdown",
                "system_reset"]
HMP_INFO = ["balloon", "block", "cpus", "kvm", "migrate", "mtree", "name", "network", "qdm",
            "qom-tree", "qtree", "status", "uuid", "version"]


@pytest.mark.parametrize("mode", ["lenient", "strict"])
def test_qmp_shell_hmp_mode(make_vm, accel, mode):
    vm = boot(make_vm, ",qmp-mode=" + mode, smp=2)
    shell = HmpShell(vm.qmp_path)
    shell.connect()
    expected = []
    for name in HMP_COMMANDS:
        expected += [name, "help " + name]
    expected += ["info " + i for i in HMP_INFO] + ["help info"]
    assert shell.completion == expected
    assert shell.run("info status") == "VM status: running\r\n "
    cpus = shell.run("info cpus")
    assert re.match(r"^\* CPU #0: thread_id=\d+\r\n  CPU #1: thread_id=\d+\r\n $", cpus), cpus
    assert shell.run("cpu 1") == ""
    assert re.match(r"^  CPU #0: thread_id=\d+\r\n\* CPU #1: ", shell.run("info cpus"))
    assert shell.run("cpu 2") == "bad CPU index\n"
    assert shell.run("info kvm") == info_kvm_answer(accel) + " "
    assert shell.run("frobnicate") == "unknown command: 'frobnicate'\r\n "
    assert shell.run("info block") == ""
    assert shell.run("stop") == ""
    assert shell.run("info status") == "VM status: paused\r\n "
    assert shell.run("c") == ""
    assert shell.run("info status") == "VM status: running\r\n "
    mtree = shell.run("info mtree")
    assert "address-space: memory\r\n  0000000000000000-ffffffffffffffff (prio 0, i/o): " \
           "system\r\n    0000000000000000-000000000fffffff (prio 0, ram): alias " \
           "ram-below-4g @microvm.ram 0000000000000000-000000000fffffff\r\n" in mtree, mtree
    assert "00000000000003f8-00000000000003ff (prio 0, i/o): serial\r\n" in mtree, mtree
    assert shell.run("help stop") == "stop|s  -- stop emulation\r\n "
    # the guest still works, and quit ends the VMM
    assert vm.run("echo hmp").get("text") == "hmp"
    assert shell.run("quit") == ""
    assert vm.wait(15) == 0
    shell.close()


# ---------------------------------------------------------------------------
# -qmp without server: Stratus connects out to a listening client (QEMU
# semantics; qmp-shell-wrap and libqtest-style harnesses listen first).

def listen_socket(kind, sockdir):
    if kind == "tcp":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        addr = "tcp:127.0.0.1:%d" % s.getsockname()[1]
    else:
        path = os.path.join(sockdir, "listen.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        addr = "unix:" + path
    s.listen(1)
    s.settimeout(15)
    return s, addr


@pytest.mark.parametrize("how", ["qmp-unix", "qmp-tcp", "mon-unix", "mon-tcp"])
def test_qmp_client_socket(make_vm, sockdir, how):
    """`-qmp unix:PATH` / `-qmp tcp:H:P` (and -chardev socket without server under
    -mon): the VMM connects to our socket at startup; greeting, negotiation in
    strict mode, commands, quit."""
    kind = how.split("-")[1]
    lsock, addr = listen_socket(kind, sockdir)
    if how.startswith("qmp"):
        extra = ["-qmp", addr + ",qmp-mode=strict"]
    elif kind == "unix":
        extra = ["-chardev", "socket,id=m0,path=" + addr[len("unix:"):],
                 "-mon", "chardev=m0,qmp-mode=strict"]
    else:
        port = addr.rsplit(":", 1)[1]
        extra = ["-chardev", "socket,id=m0,host=127.0.0.1,port=" + port,
                 "-mon", "chardev=m0,qmp-mode=strict"]
    vm = make_vm(qmp=False, extra_args=extra)
    vm.launch()
    conn, _ = lsock.accept()
    lsock.close()
    try:
        rfile = conn.makefile("rb")
        greeting = json.loads(rfile.readline())
        assert greeting["QMP"]["version"]["qemu"] == {"micro": 1, "minor": 0, "major": 5}
        conn.sendall(b'{"execute":"query-status"}')
        assert json.loads(rfile.readline())["error"]["class"] == "CommandNotFound"
        for req, want in [
                ('{"execute":"qmp_capabilities"}', {"return": {}}),
                ('{"execute":"query-name","id":1}', {"return": {}, "id": 1}),
                ('{"execute":"human-monitor-command","arguments":{"command-line":'
                 '"info status"}}', {"return": "VM status: running\r\n"})]:
            conn.sendall(req.encode())
            assert json.loads(rfile.readline()) == want, req
        vm.console.wait_prompt()
        conn.sendall(b'{"execute":"quit"}')
        assert json.loads(rfile.readline()) == {"return": {}}
        assert json.loads(rfile.readline())["event"] == "SHUTDOWN"
        assert rfile.readline() == b""          # the VMM hangs up
        assert vm.wait(15) == 0
    finally:
        conn.close()


def run_stratus_error(stratus, args):
    p = subprocess.run([str(stratus), "-accel", "qtest"] + args, capture_output=True,
                       timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p
    return p.stderr.decode()


def test_qmp_client_socket_nothing_listening(stratus, sockdir):
    """QEMU's texts, after the option: `-qmp unix:P: Failed to connect to 'P': ...`."""
    path = os.path.join(sockdir, "nobody.sock")
    assert run_stratus_error(stratus, ["-qmp", "unix:" + path]) == \
        "stratus: error: -qmp unix:%s: Failed to connect to '%s': No such file or " \
        "directory\n" % (path, path)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                   # bound once, nobody listens now
    assert run_stratus_error(stratus, ["-qmp", "tcp:127.0.0.1:%d" % port]) == \
        "stratus: error: -qmp tcp:127.0.0.1:%d: Failed to connect to '127.0.0.1:%d': " \
        "Connection refused\n" % (port, port)
    assert run_stratus_error(stratus, ["-chardev", "socket,id=m,path=" + path,
                                       "-mon", "chardev=m"]) == \
        "stratus: error: chardev 'm': Failed to connect to '%s': No such file or " \
        "directory\n" % path
    assert run_stratus_error(stratus, ["-qmp", "unix:%s,nowait" % path]) == \
        "stratus: error: -qmp: 'wait' option is incompatible with socket in client " \
        "connect mode\n"


# ---------------------------------------------------------------------------
# The rate limiter as QEMU's tooling meets it: qemu.qmp users loop over
# commands, on a qtest VM whose virtual clock never moves by itself.

def qtest_vm(stratus, qmp_opts):
    """A VMM on -accel qtest (no guest, no qtest client: the virtual clock stays
    at 0) with a -qmp server monitor carrying qmp_opts."""
    vm = GoldenVm(stratus, qmp_opts, kernel=None, console=None, accel="qtest",
                  connect_qmp=False)
    vm.launch()
    connect_unix(vm.qmp_path, 10.0, alive=vm.is_running).close()
    return vm


def pipelined(qmp, n):
    """n query-status in one write; how many were answered OperationThrottled."""
    qmp.sock.sendall(b"".join(b'{"execute":"query-status","id":%d}' % i for i in range(n)))
    throttled = []
    for i in range(n):
        reply = qmp._reply(i)
        if "error" in reply:
            assert reply["error"]["class"] == "OperationThrottled", reply
            throttled.append(reply["error"]["desc"])
    return throttled


@pytest.mark.parametrize("opts,burst,limit", [
    ("", 150, 100),                             # lenient: StratoVirt's 100/s
    (",rate-limit=off", 500, None),             # lifted
    (",qmp-mode=strict,rate-limit=50", 80, 50),  # turned on in strict mode
])
def test_rate_limit_setting(stratus, opts, burst, limit):
    vm = qtest_vm(stratus, opts)
    try:
        qmp = LegacyQMP(vm.qmp_path)
        qmp.connect()
        time.sleep(1.1)                         # a full budget
        throttled = pipelined(qmp, burst)
        if limit is None:
            assert throttled == []
        else:
            # a slow host may refill a few while the burst is served
            assert burst - limit - 10 <= len(throttled) <= burst - limit, len(throttled)
            assert set(throttled) == {"More than %d requests received during 1 second"
                                      % limit}
        qmp.close()
    finally:
        vm.cleanup()


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_qtest_vm_is_never_throttled_for_good(stratus, mode):
    """Under -accel qtest nobody steps the virtual clock. Strict (QEMU) mode has
    no limit: 500 commands, then quit exits. Lenient mode throttles a burst, and
    a second of host time refills the bucket so that quit ends the VMM. (With
    the limiter on the virtual clock the 101st command and quit were throttled
    for good.)"""
    vm = qtest_vm(stratus, ",qmp-mode=" + mode)
    try:
        qmp = LegacyQMP(vm.qmp_path)
        qmp.connect()
        if mode == "strict":
            for _ in range(500):
                assert qmp.cmd("query-status")["running"] is True
        else:
            assert pipelined(qmp, 150), "150 commands at once were not throttled"
            time.sleep(1.1)
            assert qmp.cmd("query-status")["running"] is True
        assert qmp.cmd("quit") == {}
        assert vm.wait(15) == 0
        qmp.close()
    finally:
        vm.cleanup()


def qmp_shell_banner(greeting):
    """What qmp-shell prints once connected: the QEMU version it read from the
    greeting's QMP.version.qemu (QMPShell.show_banner)."""
    version = greeting["QMP"]["version"]["qemu"]
    return "Connected to QEMU {major}.{minor}.{micro}".format(**version)


def test_legacy_greeting_is_for_stratovirt_clients_only(stratus):
    """docs/qmp.md "Greeting": qmp-greeting=legacy is StratoVirt 1.x's line;
    qemu.qmp's checks pass but qmp-shell fails on the missing `qemu` key, while
    the default greeting serves it."""
    for opts, banner in [("", "Connected to QEMU 5.0.1"), (",qmp-greeting=legacy", None)]:
        vm = qtest_vm(stratus, opts)
        try:
            qmp = LegacyQMP(vm.qmp_path)
            greeting = qmp.connect()
            if banner:
                assert qmp_shell_banner(greeting) == banner
            else:
                assert json.dumps(greeting, separators=(",", ":")) == LEGACY_GREETING
                with pytest.raises(KeyError, match="qemu"):
                    qmp_shell_banner(greeting)
            assert qmp.cmd("query-status")["status"] == "running"
            qmp.close()
        finally:
            vm.cleanup()


def test_hmp_info_network_tap(make_vm, tmp_path):
    """`info network` over real taps: QEMU 7.2's lines (a NIC with its back end
    after " \\ ", a lone back end on its own), in creation order; after
    device_del the back end is alone again."""
    from test_net import need_tun, tapname
    need_tun()
    t0, t1 = tapname(tmp_path, 0), tapname(tmp_path, 1)
    vm = make_vm(extra_args=["-netdev", "tap,id=t0,ifname=" + t0, "-device",
                             "virtio-net-device,netdev=t0,id=nic0,mac=52:54:00:12:34:56"])
    vm.boot()
    q = vm.qmp
    assert q.cmd("netdev_add", id="lone", ifname=t1) == {}

    def info_network():
        return q.cmd("human-monitor-command", **{"command-line": "info network"})
    assert info_network() == (
        "nic0: index=0,type=nic,model=virtio-net-device,macaddr=52:54:00:12:34:56\r\n"
        " \\ t0: index=0,type=tap,ifname=%s,script=no,downscript=no\r\n"
        "lone: index=0,type=tap,ifname=%s,script=no,downscript=no\r\n" % (t0, t1))
    assert q.cmd("human-monitor-command", **{"command-line": "device_del nic0"}) == ""
    assert info_network() == (
        "t0: index=0,type=tap,ifname=%s,script=no,downscript=no\r\n"
        "lone: index=0,type=tap,ifname=%s,script=no,downscript=no\r\n" % (t0, t1))


def read_to_eof(sock, timeout=10.0):
    """True once the peer hung up (recv gives b"") within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.2)
        if r and not sock.recv(65536):
            return True
    return False


def test_yank_drops_a_chardev_and_a_monitor_connection(make_vm, tmp_path):
    """QEMU's yank (docs/qmp.md "Character devices"): query-yank lists the socket
    chardevs, monitors and the serial console alike; yanking one drops its
    client as a hangup would: the console's client reads EOF and a new client
    gets the shell; a second monitor's client reads EOF and a new one gets a
    greeting; the yanking monitor is untouched."""
    mon2_path = str(tmp_path / "mon2.sock")
    vm = make_vm(extra_args=["-qmp", "unix:%s,server,nowait" % mon2_path])
    vm.boot()
    inst = vm.qmp.cmd("query-yank")
    assert {i["type"] for i in inst} == {"chardev"} and len(inst) == 3, inst
    mon2 = connect_unix(mon2_path, 10)
    assert b'"QMP"' in mon2.makefile("rb").readline()
    ids = [i["id"] for i in inst]
    console_id, mon2_id = ids[1], ids[2]         # command-line order after the first monitor
    assert vm.qmp.cmd("yank", instances=[{"type": "chardev", "id": console_id}]) == {}
    con = socket.socket(fileno=os.dup(vm.console.rfd))
    assert read_to_eof(con), "the yanked console's client is still connected"
    con.close()
    vm.console = Console(connect_unix(vm.console_path, 10), None, "console(again)")
    assert vm.run("info").ok
    assert vm.qmp.cmd("yank", instances=[{"type": "chardev", "id": mon2_id}]) == {}
    assert read_to_eof(mon2), "the yanked monitor's client is still connected"
    mon2.close()
    mon2 = connect_unix(mon2_path, 10)
    assert b'"QMP"' in mon2.makefile("rb").readline()
    mon2.close()
    assert vm.qmp.cmd("query-status")["status"] == "running"
