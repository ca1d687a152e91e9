"""Drive a Stratus (or QEMU) microVM running the project's test guest.

Reusable by every functional suite (boot, lifecycle, QMP transcripts, block...).

    vm = Vm(stratus_bin, kernel=bzimage, smp=2, workdir=tmp_path)
    vm.launch()                       # starts the VMM, connects console + QMP
    vm.console.wait_prompt()          # waits for "guest# " (banner kept in vm.console.transcript)
    info = parse_info(vm.console.run("info"))
    vm.qmp.execute("quit")            # -> {"return": {}}
    assert vm.wait() == 0
    vm.cleanup()                      # always: kills whatever is left

Everything that waits has a timeout and every failure raises VmError whose message
carries the command line, the exit status, the VMM's stderr, the console transcript
and the -D log (tails of each), so a failing test says why.

The guest's console protocol is docs/guest-shell.md.  The module also has a tiny CLI
(see main()): `python3 stratus_vm.py qmp SOCKET '{"execute":"quit"}'`.
"""

import ctypes
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

PROMPT = "guest# "
DEFAULT_BOOT_TIMEOUT = float(os.environ.get("STRATUS_BOOT_TIMEOUT", "30"))
DEFAULT_CMD_TIMEOUT = float(os.environ.get("STRATUS_CMD_TIMEOUT", "15"))
# Every wait below is multiplied by this: a sanitizer build of the VMM runs
# several times slower, and scripts/run-tests.sh sets it for that lane.
TIMEOUT_FACTOR = float(os.environ.get("STRATUS_TIMEOUT_FACTOR", "1"))


def scaled(seconds):
    """A timeout in seconds, stretched by STRATUS_TIMEOUT_FACTOR."""
    return seconds * TIMEOUT_FACTOR

QMP_GREETING = ('{"QMP":{"version":{"qemu":{"micro":1,"minor":0,"major":5},'
                '"package":"Stratus-0.1.0"},"capabilities":[]}}')


class VmError(Exception):
    pass


def test_extra_args():
    """STRATUS_TEST_EXTRA_ARGS (shell-split), appended to every VM's command
    line, e.g. "-sandbox on,debug=on" to list the calls the filter misses."""
    return shlex.split(os.environ.get("STRATUS_TEST_EXTRA_ARGS", ""))


def collect_seccomp_lines(vm):
    """With STRATUS_TEST_SECCOMP_LOG=FILE, append the VM's "stratus: seccomp:"
    stderr lines to FILE, each prefixed with the running test's name."""
    path = os.environ.get("STRATUS_TEST_SECCOMP_LOG")
    if not path or vm.proc is None:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    lines = [l for l in vm.stderr_text().splitlines() if l.startswith("stratus: seccomp:")]
    if lines:
        with open(path, "a") as f:
            f.writelines("%s: %s\n" % (test, l) for l in lines)


def tail(text, n=40):
    lines = text.splitlines()
    if len(lines) > n:
        lines = ["... (%d earlier lines)" % (len(lines) - n)] + lines[-n:]
    return "\n".join(lines)


def short_tmpdir(prefix="st-"):
    """A directory whose paths fit in sun_path (107 bytes) with room to spare."""
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


# ---------------------------------------------------------------------------
# Process helpers

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    """Orphans of our children (a -daemonize'd VMM) get reparented to us, so we
    can waitpid() them and see their exit status.  Returns True on success."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except Exception:
        return False


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = data[data.rfind(")") + 2:].split()[0]
    return state not in ("Z", "X")


def wait_pid(pid, timeout):
    """Wait for a pid that may or may not be our child.  Returns the exit status
    (negative signal number as subprocess does) if we could reap it, None if it
    vanished without us seeing the status.  Raises TimeoutError."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            rpid, status = os.waitpid(pid, os.WNOHANG)
            if rpid == pid:
                return os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            if not pid_alive(pid):
                return None
        if time.monotonic() > deadline:
            raise TimeoutError("pid %d still running after %.1fs" % (pid, timeout))
        time.sleep(0.01)


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def rss_excluding_guest_ram(pid, guest_ram_bytes):
    """(total_rss_kib, guest_ram_rss_kib, rest_kib) from /proc/PID/smaps.

    Guest RAM = every anonymous mapping (no file, or [anon...]/memfd) whose size is
    at least the guest RAM size (QEMU may over-allocate for alignment; a VMM that
    splits RAM below/above 4 GiB would need guest_ram_bytes of the smallest part)."""
    total = ram = 0
    cur_is_ram = False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
                start, end = (int(x, 16) for x in fields[0].split("-"))
                path = fields[5] if len(fields) > 5 else ""
                anon = (path == "" or path.startswith("[anon") or
                        path.startswith("/memfd:") or path.startswith("/dev/zero"))
                cur_is_ram = anon and (end - start) >= guest_ram_bytes
            elif fields[0] == "Rss:":
                kib = int(fields[1])
                total += kib
                if cur_is_ram:
                    ram += kib
    return total, ram, total - ram


# ---------------------------------------------------------------------------
# Serial console client

class Reply:
    """One command's answer: lines before the status line, status, msg."""

    def __init__(self, cmd, lines, status_line, raw):
        self.cmd = cmd
        self.lines = lines
        self.status_line = status_line
        self.raw = raw
        tag, kv = parse_kv(status_line)
        self.status = kv.get("status")
        self.msg = kv.get("msg")
        self.records = [parse_kv(l) for l in lines]

    @property
    def ok(self):
        return self.status == "ok"

    def get(self, key, default=None):
        """Value of the first line that has key."""
        for _, kv in self.records:
            if key in kv:
                return kv[key]
        return default

    def __repr__(self):
        return "Reply(%r, status=%r, lines=%r)" % (self.cmd, self.status_line, self.lines)


def parse_kv(line):
    """'tag k=v k2=v2' -> ('tag', {'k': 'v', ...}).  A 'cmdline=' or 'text=' key
    takes the rest of the line (docs/guest-shell.md)."""
    tag = None
    kv = {}
    rest = line.strip("\r\n")
    first = True
    while rest:
        m = re.match(r"(cmdline|text)=(.*)$", rest, re.S)
        if m:
            kv[m.group(1)] = m.group(2)
            break
        tok, _, rest = rest.partition(" ")
        if not tok:
            continue
        if "=" in tok:
            k, _, v = tok.partition("=")
            kv[k] = v
        elif first:
            tag = tok
        else:
            kv[tok] = None
        first = False
    return tag, kv


def parse_int(s):
    return int(s, 0)


def parse_info(reply):
    """Structured `info` output (docs/guest-shell.md)."""
    if not reply.ok:
        raise VmError("info failed: %r" % reply)
    info = {"e820": [], "ram_free": [], "virtio_mmio": [], "raw": reply.lines}
    for tag, kv in reply.records:
        if tag == "e820":
            info["e820"].append({"index": int(kv["index"]), "base": parse_int(kv["base"]),
                                 "size": parse_int(kv["size"]), "type": int(kv["type"])})
        elif tag == "ram_free":
            info["ram_free"].append({"base": parse_int(kv["base"]), "size": parse_int(kv["size"])})
        elif tag == "virtio_mmio":
            if "count" in kv:
                info["virtio_mmio_count"] = int(kv["count"])
            else:
                info["virtio_mmio"].append(kv)
        elif "mem_total" in kv:
            info["mem_total"] = int(kv["mem_total"])
        elif "cpus" in kv:
            info["cpus"] = int(kv["cpus"])
            info["online"] = int(kv["online"])
            ids = kv.get("apic_ids") or ""
            info["apic_ids"] = [parse_int(x) for x in ids.split(",") if x and x != "none"]
        elif "initrd_size" in kv:
            info["initrd_size"] = int(kv["initrd_size"])
            info["initrd_crc32"] = parse_int(kv["initrd_crc32"])
        elif "cmdline" in kv:
            info["cmdline"] = kv["cmdline"]
    for key in ("mem_total", "cpus", "initrd_size", "cmdline"):
        if key not in info:
            raise VmError("info output lacks %s: %r" % (key, reply.lines))
    return info


class Console:
    """Line-oriented client for the guest shell over any fd pair (socket, pipes).

    All bytes received are kept in .transcript (latin-1 decoded) for diagnostics."""

    def __init__(self, rfile, wfile=None, name="console", describe=None):
        self.rfd = rfile if isinstance(rfile, int) else rfile.fileno()
        self._keep = (rfile, wfile)        # keep objects (and their fds) alive
        self.wfd = self.rfd if wfile is None else (wfile if isinstance(wfile, int)
                                                   else wfile.fileno())
        self.name = name
        self.buf = ""
        self.transcript = ""
        self.eof = False
        self._describe = describe or (lambda: "")

    def fail(self, msg):
        raise VmError("%s: %s\n--- console transcript (tail) ---\n%s\n%s"
                      % (self.name, msg, tail(self.transcript), self._describe()))

    def _fill(self, timeout):
        """Read what is available within timeout.  Returns bytes read (0 at EOF/timeout)."""
        if self.eof:
            return 0
        r, _, _ = select.select([self.rfd], [], [], max(0.0, timeout))
        if not r:
            return 0
        try:
            data = os.read(self.rfd, 65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return 0
        text = data.decode("latin-1")
        self.buf += text
        self.transcript += text
        return len(data)

    def write(self, text):
        data = text.encode("latin-1") if isinstance(text, str) else text
        while data:
            _, w, _ = select.select([], [self.wfd], [], DEFAULT_CMD_TIMEOUT)
            if not w:
                self.fail("console write blocked")
            try:
                n = os.write(self.wfd, data)
            except (BrokenPipeError, ConnectionResetError) as e:
                self.fail("console write failed: %s" % e)
            data = data[n:]

    def read_until(self, pattern, timeout=DEFAULT_BOOT_TIMEOUT, poke=None):
        """Consume up to the end of the first match of regex pattern.  Returns
        the consumed text.  poke=(interval, text): write text whenever nothing
        arrived for interval seconds (to provoke a prompt printed before we
        connected)."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + scaled(timeout)
        last_rx = time.monotonic()
        while True:
            m = rx.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out
            now = time.monotonic()
            if now >= deadline:
                self.fail("timeout (%.1fs) waiting for %r" % (timeout, rx.pattern))
            if self.eof:
                self.fail("EOF while waiting for %r" % rx.pattern)
            wait = deadline - now
            if poke:
                wait = min(wait, max(0.01, last_rx + poke[0] - now))
            if self._fill(wait):
                last_rx = time.monotonic()
            elif poke and time.monotonic() - last_rx >= poke[0] and not self.eof:
                self.write(poke[1])
                last_rx = time.monotonic()

    def expect_silence(self, seconds, poke=None):
        """Returns the text received within seconds (tests check it is empty)."""
        got = ""
        deadline = time.monotonic() + seconds
        next_poke = time.monotonic() + (poke[0] if poke else seconds + 1)
        while time.monotonic() < deadline and not self.eof:
            if poke and time.monotonic() >= next_poke:
                self.write(poke[1])
                next_poke = time.monotonic() + poke[0]
            before = len(self.buf)
            self._fill(min(0.1, max(0.0, deadline - time.monotonic())))
            got += self.buf[before:]
        return got

    def wait_prompt(self, timeout=DEFAULT_BOOT_TIMEOUT, poke_interval=2.0):
        """Wait for 'guest# '.  With poke_interval, send '\\r' after that many
        quiet seconds (the prompt may have been printed before we connected)."""
        poke = (poke_interval, "\r") if poke_interval else None
        out = self.read_until(re.escape(PROMPT), timeout, poke)
        self.drain(0.05)
        return out

    def drain(self, quiet=0.05):
        """Drop output until the line is quiet for `quiet` seconds; keeps it in
        the transcript."""
        while self._fill(quiet):
            pass
        dropped, self.buf = self.buf, ""
        return dropped

    def banner(self):
        """The banner line if it is in the transcript, else None."""
        m = re.search(r"stratus-testguest [^\r\n]*", self.transcript)
        return m.group(0) if m else None

    def run(self, cmd, timeout=DEFAULT_CMD_TIMEOUT, expect_prompt=True):
        """Send one command line and return its Reply.  Lines before the echo of
        the command (stray prompts, pokes) are ignored."""
        self.write(cmd + "\n")
        deadline = time.monotonic() + scaled(timeout)
        while True:
            reply = self._parse_reply(cmd, expect_prompt)
            if reply:
                return reply
            now = time.monotonic()
            if now >= deadline:
                self.fail("timeout (%.1fs) waiting for the reply to %r" % (timeout, cmd))
            if self.eof:
                self.fail("EOF while waiting for the reply to %r" % cmd)
            self._fill(deadline - now)

    def _parse_reply(self, cmd, expect_prompt):
        buf = self.buf
        pos = 0
        echo_end = None
        lines = []
        while True:
            nl = buf.find("\n", pos)
            if nl < 0:
                return None
            line = buf[pos:nl].rstrip("\r")
            pos = nl + 1
            if echo_end is None:
                bare = line
                while bare.startswith(PROMPT):
                    bare = bare[len(PROMPT):]
                # the echo may carry \r or backspaces; compare the visible text
                if bare.strip() == cmd.strip():
                    echo_end = pos
                continue
            if line.startswith("status="):
                status_line = line
                break
            lines.append(line)
        if expect_prompt:
            p = buf.find(PROMPT, pos)
            if p < 0:
                return None
            end = p + len(PROMPT)
        else:
            end = pos
        raw, self.buf = buf[:end], buf[end:]
        return Reply(cmd, lines, status_line, raw)


# ---------------------------------------------------------------------------
# QMP client

class QmpError(VmError):
    def __init__(self, resp):
        self.resp = resp
        super().__init__("QMP error: %r" % (resp,))


class QmpClient:
    def __init__(self, path, timeout=10.0, describe=None, connect=True, alive=None):
        self.path = path
        self.alive = alive
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.events = []
        self.greeting = None
        self.greeting_raw = None
        self.transcript = []           # ('>', text) / ('<', text)
        self._describe = describe or (lambda: "")
        if connect:
            self.connect()

    def fail(self, msg):
        raise VmError("QMP %s: %s\n--- QMP transcript (tail) ---\n%s\n%s"
                      % (self.path, msg,
                         tail("\n".join("%s %s" % t for t in self.transcript)),
                         self._describe()))

    def connect(self, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        try:
            self.sock = connect_unix(self.path, timeout, alive=self.alive)
        except VmError as e:
            self.fail(str(e))
        self.greeting_raw = self.recv_line(timeout)
        self.greeting = json.loads(self.greeting_raw)
        return self.greeting

    def recv_line(self, timeout=None, deadline=None):
        """One message line, without the trailing \\r\\n.  `deadline` (time.monotonic(),
        already scaled) replaces the timeout."""
        timeout = scaled(self.timeout if timeout is None else timeout)
        if deadline is None:
            deadline = time.monotonic() + timeout
        else:
            timeout = max(0.0, deadline - time.monotonic())
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("timeout (%.1fs) waiting for a message" % timeout)
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                self.fail("connection closed by the VMM")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        text = line.decode().rstrip("\r")
        self.transcript.append(("<", text))
        return text

    def recv(self, timeout=None, deadline=None):
        return json.loads(self.recv_line(timeout, deadline))

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.transcript.append((">", data.decode(errors="replace")))
        self.sock.sendall(data)

    def execute(self, cmd, arguments=None, id=None, timeout=None, newline=False):
        """Send a command, return the whole response dict ({"return":...} or
        {"error":...}).  Events that arrive first are stored in .events."""
        msg = {"execute": cmd}
        if arguments is not None:
            msg["arguments"] = arguments
        if id is not None:
            msg["id"] = id
        self.send_raw(json.dumps(msg) + ("\n" if newline else ""))
        while True:
            resp = self.recv(timeout)
            if "event" in resp:
                self.events.append(resp)
                continue
            return resp

    def cmd(self, cmd, **arguments):
        """Execute and return the "return" value; raises QmpError on error."""
        resp = self.execute(cmd, arguments or None)
        if "return" not in resp:
            raise QmpError(resp)
        return resp["return"]

    def wait_event(self, name, timeout=None):
        for i, ev in enumerate(self.events):
            if ev.get("event") == name:
                return self.events.pop(i)
        deadline = time.monotonic() + scaled(self.timeout if timeout is None else timeout)
        while True:
            resp = self.recv(deadline=deadline)
            if resp.get("event") == name:
                return resp
            self.events.append(resp)

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


def connect_unix(path, timeout, alive=None):
    """Connect to a unix socket that may not exist yet.  alive() -> False aborts."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last = None
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError) as e:
            last = e
            s.close()
        if alive is not None and not alive():
            raise VmError("VMM exited before %s accepted connections" % path)
        if time.monotonic() > deadline:
            raise VmError("cannot connect to %s within %.1fs: %s" % (path, timeout, last))
        time.sleep(0.005)


# ---------------------------------------------------------------------------
# The VM

class Vm:
    """One VMM process.

    console: 'socket' (-serial socket,path=..,server,nowait), 'chardev'
      (-chardev socket,id=con,...  -serial chardev:con), 'stdio' (-serial stdio,
      console over the process's stdin/stdout pipes) or None (no serial).
    qmp: True -> -qmp unix:<sockdir>/qmp.sock,server,nowait (connected at launch
      unless connect_qmp=False); 'api-channel' -> the same socket as StratoVirt
      0.x's -api-channel unix:<sockdir>/qmp.sock.
    accel: None (no -accel option: the VMM's own default, kvm if /dev/kvm is
      usable, else emu) or an accelerator name ('emu', 'kvm', 'tcg', 'kvm:tcg'...)
      -> -accel <name>.
    Any other option goes into extra_args (list of strings), appended last.
    """

    def __init__(self, binary, kernel=None, *, mem="256M", smp=None, initrd=None,
                 append=None, console="socket", qmp=True, connect_qmp=True,
                 log_file=None, freeze=False, daemonize=False, pidfile=None,
                 machine="microvm", accel=None, extra_args=(), env=None, workdir=None,
                 sockdir=None, name="stratus", qmp_opts=""):
        self.binary = str(binary)
        self.qmp_opts = qmp_opts        # appended to -qmp's value, e.g. ",rate-limit=off"
        self.kernel = kernel
        self.accel = accel
        self.mem = mem
        self.smp = smp
        self.initrd = initrd
        self.append = append
        self.console_kind = console
        self.use_qmp = qmp
        self.connect_qmp = connect_qmp
        self.log_file = str(log_file) if log_file else None
        self.freeze = freeze
        self.daemonize = daemonize
        self.pidfile = str(pidfile) if pidfile else None
        self.machine = machine
        self.extra_args = [str(a) for a in extra_args]
        self.env = env
        self.name = name
        self._own_sockdir = sockdir is None
        self.sockdir = str(sockdir) if sockdir else short_tmpdir()
        self.workdir = str(workdir) if workdir else self.sockdir
        self.qmp_path = os.path.join(self.sockdir, "qmp.sock")
        self.console_path = os.path.join(self.sockdir, "con.sock")
        self.stderr_path = os.path.join(self.workdir, "%s.stderr" % name)
        self.stdout_path = os.path.join(self.workdir, "%s.stdout" % name)
        self.proc = None
        self.pid = None           # the VMM's pid (the daemon's with -daemonize)
        self.launcher_status = None
        self.exit_status = None
        self.console = None
        self.qmp = None
        self.args = None
        self.t_exec = None

    # -- command line
    def build_args(self):
        a = [self.binary]
        if self.machine:
            a += ["-machine", self.machine]
        if self.accel:
            a += ["-accel", self.accel]
        if self.mem:
            a += ["-m", str(self.mem)]
        if self.smp is not None:
            a += ["-smp", str(self.smp)]
        if self.kernel:
            a += ["-kernel", str(self.kernel)]
        if self.initrd:
            a += ["-initrd", str(self.initrd)]
        if self.append is not None:
            a += ["-append", self.append]
        if self.use_qmp == "api-channel":
            a += ["-api-channel", "unix:%s" % self.qmp_path]
        elif self.use_qmp:
            a += ["-qmp", "unix:%s,server,nowait%s" % (self.qmp_path, self.qmp_opts)]
        if self.console_kind == "socket":
            a += ["-serial", "socket,path=%s,server,nowait" % self.console_path]
        elif self.console_kind == "chardev":
            a += ["-chardev", "socket,id=con,path=%s,server,nowait" % self.console_path,
                  "-serial", "chardev:con"]
        elif self.console_kind == "stdio":
            a += ["-serial", "stdio"]
        if self.log_file:
            a += ["-D", self.log_file]
        if self.freeze:
            a += ["-S"]
        if self.daemonize:
            a += ["-daemonize"]
        if self.pidfile:
            a += ["-pidfile", self.pidfile]
        return a + self.extra_args + test_extra_args()

    # -- diagnostics
    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_text(self):
        if not self.log_file:
            return ""
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self):
        parts = ["--- %s command line ---" % self.name,
                 " ".join(self.args or self.build_args())]
        status = self.exit_status
        if status is None and self.proc is not None and not self.daemonize:
            status = self.proc.poll()
        parts.append("--- exit status: %s ---" % ("running" if status is None else status))
        parts += ["--- %s stderr (tail) ---" % self.name, tail(self.stderr_text())]
        if self.console_kind != "stdio" and os.path.exists(self.stdout_path):
            try:
                with open(self.stdout_path, errors="replace") as f:
                    out = f.read()
                if out:
                    parts += ["--- stdout (tail) ---", tail(out)]
            except OSError:
                pass
        if self.log_file:
            parts += ["--- -D log (tail) ---", tail(self.log_text())]
        return "\n".join(parts)

    def fail(self, msg):
        ctext = ""
        if self.console is not None:
            ctext = "\n--- console transcript (tail) ---\n" + tail(self.console.transcript)
        raise VmError("%s: %s%s\n%s" % (self.name, msg, ctext, self.describe()))

    # -- lifecycle
    def launch(self, timeout=10.0):
        """Start the VMM and connect console and QMP (if configured)."""
        self.args = self.build_args()
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        stderr = open(self.stderr_path, "wb")
        if self.console_kind == "stdio":
            stdin, stdout = subprocess.PIPE, subprocess.PIPE
        else:
            stdin, stdout = subprocess.DEVNULL, open(self.stdout_path, "wb")
        self.t_exec = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdin=stdin, stdout=stdout, stderr=stderr,
                                     env=env, start_new_session=True, bufsize=0)
        stderr.close()
        if stdout is not subprocess.PIPE:
            stdout.close()
        self.pid = self.proc.pid
        if self.daemonize:
            try:
                self.launcher_status = self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.fail("-daemonize: the launching process did not exit within %.1fs" % timeout)
            if self.launcher_status != 0:
                self.exit_status = self.launcher_status
                self.fail("-daemonize: the launching process exited with %s"
                          % self.launcher_status)
            if self.pidfile:
                self.pid = self.read_pidfile(timeout)
        if self.console_kind == "stdio":
            self.console = Console(self.proc.stdout, self.proc.stdin, "console(stdio)",
                                   self.describe)
        elif self.console_kind in ("socket", "chardev"):
            s = self._connect(self.console_path, timeout)
            self.console = Console(s, None, "console(%s)" % self.console_path, self.describe)
        if self.use_qmp and self.connect_qmp:
            self.connect_qmp_client(timeout)
        return self

    def read_pidfile(self, timeout=5.0):
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:
                with open(self.pidfile) as f:
                    text = f.read()
                if text.strip():
                    return int(text.strip())
            except FileNotFoundError:
                pass
            except ValueError:
                self.fail("pidfile %s does not hold a pid: %r" % (self.pidfile, text))
            if time.monotonic() > deadline:
                self.fail("pidfile %s not written within %.1fs" % (self.pidfile, timeout))
            time.sleep(0.01)

    def _connect(self, path, timeout):
        try:
            return connect_unix(path, timeout, alive=self.is_running)
        except VmError as e:
            if not self.is_running():
                self._reap_quietly()
            self.fail(str(e))

    def connect_qmp_client(self, timeout=10.0):
        """(Re)connect self.qmp; the greeting is in self.qmp.greeting_raw."""
        if self.qmp:
            self.qmp.close()
        self.qmp = QmpClient(self.qmp_path, timeout=timeout, describe=self.describe,
                             alive=self.is_running)
        self.qmp_handshake()
        return self.qmp

    def qmp_handshake(self):
        """Stratus (like StratoVirt) needs no capabilities negotiation."""
        pass

    def is_running(self):
        if self.daemonize and self.pid is not None and self.pid != self.proc.pid:
            return pid_alive(self.pid)
        return self.proc is not None and self.proc.poll() is None

    def _reap_quietly(self):
        try:
            self.wait(0.5)
        except Exception:
            pass

    def wait(self, timeout=15.0):
        """Wait for the VMM to exit; returns its exit status (None if it was a
        daemon we could not reap)."""
        if self.exit_status is not None and not self.is_running():
            return self.exit_status
        if self.daemonize and self.pid != self.proc.pid:
            try:
                self.exit_status = wait_pid(self.pid, timeout)
            except TimeoutError:
                self.fail("did not exit within %.1fs" % timeout)
            return self.exit_status
        try:
            self.exit_status = self.proc.wait(scaled(timeout))
        except subprocess.TimeoutExpired:
            self.fail("did not exit within %.1fs" % timeout)
        return self.exit_status

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def kill(self):
        """SIGKILL the VMM (and a daemon we know of).

        Our own child is killed whatever it runs: until we reap it its pid
        cannot be reused, and a wrapper (`ip netns exec`) execs the VMM in
        place, so its command line names the VMM, not args[0].  A daemon's pid
        is checked against the VMM's binary name first, since it is not ours."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        if self.pid and (self.proc is None or self.pid != self.proc.pid) \
                and pid_alive(self.pid):
            cmd = proc_cmdline(self.pid)
            if cmd and os.path.basename(cmd[0]) == os.path.basename(self.binary):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            if self.proc:
                self.proc.wait(5)
            if self.pid and self.proc and self.pid != self.proc.pid:
                wait_pid(self.pid, 5)
        except Exception:
            pass

    def cleanup(self):
        """Always safe: close clients, kill leftovers, remove our temp dir."""
        collect_seccomp_lines(self)
        if self.qmp:
            self.qmp.close()
        if self.proc is not None and self.is_running():
            self.kill()
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout):
                if f:
                    try:
                        f.close()
                    except OSError:
                        pass
        if self._own_sockdir:
            shutil.rmtree(self.sockdir, ignore_errors=True)
        if self.proc is not None and self.is_running():
            # A VMM left running starves every later test (and CI's fuzzers)
            # of CPU: make it an error, not a silent leak.
            raise VmError("%s: VMM pid %s survived SIGKILL" % (self.name, self.pid))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # -- conveniences
    def boot(self, timeout=DEFAULT_BOOT_TIMEOUT):
        """launch() + wait for the prompt."""
        if self.proc is None:
            self.launch()
        self.console.wait_prompt(timeout)
        return self

    def run(self, cmd, **kw):
        return self.console.run(cmd, **kw)

    def info(self):
        return parse_info(self.console.run("info"))

    def quit(self, timeout=15.0):
        """QMP quit; returns the exit status."""
        resp = self.qmp.execute("quit")
        if resp != {"return": {}}:
            self.fail("quit answered %r" % (resp,))
        return self.wait(timeout)


# Stratus accelerator -> QEMU's: emu is Stratus's software CPU, QEMU's is tcg.
QEMU_ACCEL = {None: "kvm", "kvm": "kvm", "emu": "tcg", "tcg": "tcg"}
# The vCPU model for each: on KVM the host's (minus arch-capabilities, which
# QEMU 7.2 cannot always set), on tcg QEMU's most complete model.
QEMU_CPU = {"kvm": "host,-arch-capabilities", "tcg": "max"}


class QemuVm(Vm):
    """The same guest on qemu-system-x86_64 -M microvm (cross-check, benchmark).

    accel: None or 'kvm' -> -enable-kvm -cpu host,-arch-capabilities;
    'emu' or 'tcg' -> -accel tcg -cpu max (QEMU's software CPU, the counterpart
    of Stratus's emu)."""

    def __init__(self, binary="qemu-system-x86_64", kernel=None, **kw):
        kw.setdefault("machine", "microvm,acpi=off")
        kw.setdefault("name", "qemu")
        super().__init__(binary, kernel, **kw)
        if self.accel not in QEMU_ACCEL:
            raise ValueError("QemuVm: no QEMU counterpart for accel=%r" % (self.accel,))

    @property
    def qemu_accel(self):
        return QEMU_ACCEL[self.accel]

    def qmp_handshake(self):
        resp = self.qmp.execute("qmp_capabilities")
        if resp != {"return": {}}:
            self.fail("qmp_capabilities answered %r" % (resp,))

    def build_args(self):
        accel = self.qemu_accel
        a = [self.binary, "-M", self.machine]
        a += ["-enable-kvm"] if accel == "kvm" else ["-accel", accel]
        a += ["-cpu", QEMU_CPU[accel],
              "-m", str(self.mem), "-nodefaults", "-no-user-config", "-display", "none"]
        if self.smp is not None:
            a += ["-smp", str(self.smp)]
        a += ["-kernel", str(self.kernel)]
        if self.initrd:
            a += ["-initrd", str(self.initrd)]
        if self.append is not None:
            a += ["-append", self.append]
        if self.use_qmp:
            a += ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        if self.console_kind == "socket":
            a += ["-chardev", "socket,id=con,path=%s,server=on,wait=off" % self.console_path,
                  "-serial", "chardev:con"]
        elif self.console_kind == "stdio":
            a += ["-serial", "stdio"]
        if self.freeze:
            a += ["-S"]
        return a + self.extra_args


def file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------------------
# CLI: python3 stratus_vm.py qmp SOCKET [JSON ...]

def main(argv):
    if len(argv) >= 3 and argv[1] == "qmp":
        q = QmpClient(argv[2])
        print(q.greeting_raw)
        cmds = argv[3:] or [line for line in sys.stdin]
        for c in cmds:
            c = c.strip()
            if not c:
                continue
            if not c.startswith("{"):
                c = json.dumps({"execute": c})
            q.send_raw(c)
            while True:
                line = q.recv_line()
                print(line)
                if '"event"' not in line:
                    break
        return 0
    print("usage: %s qmp SOCKET ['{\"execute\":\"quit\"}' | query-status ...]" % argv[0],
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
