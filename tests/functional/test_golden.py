"""Golden QMP transcripts: the ONE runner for tests/functional/golden/*.txt.

Each golden file is one exchange in the seeds' notation (see golden/README.md):

    # seed: 000_63338933b60a7247.txt "Stop all guest VCPUs execution"
    # args: -smp 2,sockets=2,cores=1,threads=1
    # greeting: legacy
    -> {"QMP":{"version":{"StratoVirt":{...}},"package":""},"capabilities":[]}}
    <- {"execute":"stop"}
    -> {"event":"STOP","data":{},"timestamp":{"seconds":1583908726,"microseconds":162739}}
    -> {"return":{}}

`<-` is what the client sends, `->` what Stratus answers (the seeds' arrows).  The
runner boots the test guest with the header's options on a fresh VM, connects a raw
unix socket to the monitor, replays the `<-` lines byte for byte and compares every
message Stratus writes with the next `->` line:

* both sides are parsed with json.loads(object_pairs_hook=...) that keeps the
  members in order, so member ORDER and every value must match but the seeds'
  whitespace does not matter;
* only these are normalised: `timestamp` objects {"seconds":N,"microseconds":N}
  (the actual one must be within a minute of the host clock), thread ids
  (`thread_id` members, the `thread-id` of a query-cpus-fast entry, `thread_id=N`
  in HMP text; each actual one must be a task of the VMM in /proc/PID/task) and the
  VM's socket directory (shown as /path/to);
* the raw wire form is checked separately: printable ASCII, exactly the compact
  re-serialisation of what was parsed, one line, terminated by \\r\\n;
* after the last line nothing else may arrive (0.3 s of quiet), or, with
  `# exit: N`, the monitor must hang up and the VMM exit with status N.

Header keys (all optional): seed, note (free text); accel: emu|kvm (the file is
replayed only on that accelerator, for answers that depend on it such as
query-kvm; without it, on every accelerator of conftest.ACCELS); args (extra VMM
arguments, shell-split); greeting: qemu|legacy; mode: lenient|strict; rate-limit: N|off;
boot: prompt (default:
wait for the guest prompt first) | frozen (-S: assert the guest stays silent) | none;
send: step (default: each `<-` then its replies) | batch (all `<-` lines in one
write, then all replies); input: text (default) | escaped (`<-` text is
Python-escaped bytes, e.g. \\xff \\x00 \\n); scm-fd: N[,M] (attach an fd with
SCM_RIGHTS to the N-th request); images: NAME=SIZE[,NAME=SIZE] (sparse raw
files created in the VM's socket directory before the replay; `/path/to/` in `<-`
lines and in `args` is always that directory, and it is shown as /path/to in replies); exit: STATUS; console: REGEX (must appear on the
guest console after the replay, e.g. the banner after system_reset); quiet: seconds;
launch: config (machine, memory, vCPUs, kernel and a plain `-device virtio-balloon-device`
come from a `-config` JSON file, as the seeds 001/004 start StratoVirt; an -smp with a
topology stays on the command line too and overrides the file) | config,api-channel
(and the monitor is `-api-channel unix:PATH`, seed 001).

STRATUS_GOLDEN_PRINT=1 prints the actual transcript of every file in golden form
(to review a new file; never paste it in unreviewed).
"""

import json
import os
import re
import shlex
import socket
import time
from pathlib import Path

import pytest

from conftest import ACCELS, BUILD_DIR, INSTALLED
from stratus_vm import Vm, PROMPT, connect_unix

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.txt"))
HEADER_KEYS = {"seed", "note", "accel", "args", "greeting", "mode", "rate-limit", "boot", "send", "input",
               "scm-fd", "exit", "console", "quiet", "images", "launch", "fake-camera"}
SIZE_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
PRINT = os.environ.get("STRATUS_GOLDEN_PRINT", "") not in ("", "0")


# ---------------------------------------------------------------------------
# JSON with member order preserved

class Obj(tuple):
    """A JSON object as a tuple of (key, value) pairs, in wire order."""

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default

    def keys(self):
        return [k for k, _ in self]


def parse(text):
    return json.loads(text, object_pairs_hook=Obj)


def compact(v):
    """Compact serialisation (what Stratus must put on the wire)."""
    if isinstance(v, Obj):
        return "{" + ",".join(json.dumps(k) + ":" + compact(x) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ",".join(compact(x) for x in v) + "]"
    return json.dumps(v)


def _is_timestamp(v):
    return (isinstance(v, Obj) and v.keys() == ["seconds", "microseconds"] and
            all(isinstance(x, int) and not isinstance(x, bool) for _, x in v))


TS = "<timestamp>"
TID = "<tid>"


class Normaliser:
    """Replaces timestamps, thread ids and socket paths; on the actual side it
    also checks them (timestamps near now, tids of the VMM)."""

    def __init__(self, vm=None, actual=False):
        self.vm = vm
        self.actual = actual
        self.errors = []

    def tid(self, v):
        if self.actual:
            tasks = "/proc/%d/task/%s" % (self.vm.pid, v)
            if not (isinstance(v, int) and os.path.exists(tasks)):
                self.errors.append("thread id %r is not a thread of pid %d" % (v, self.vm.pid))
        return TID

    def __call__(self, v, key=None, parent=None):
        if isinstance(v, Obj):
            if key == "timestamp" and _is_timestamp(v):
                if self.actual:
                    s = v.get("seconds")
                    us = v.get("microseconds")
                    if abs(s + us / 1e6 - time.time()) > 60 or not 0 <= us < 1000000:
                        self.errors.append("timestamp %r is not the host clock" % (v,))
                return TS
            out = []
            for k, x in v:
                if k == "thread_id" or (k == "thread-id" and "cpu-index" in v.keys()):
                    out.append((k, self.tid(x)))
                else:
                    out.append((k, self(x, k, v)))
            return Obj(out)
        if isinstance(v, list):
            return [self(x) for x in v]
        if isinstance(v, str):
            if self.actual and self.vm is not None:
                v = v.replace(self.vm.sockdir, "/path/to")
            return re.sub(r"thread_id=(\d+)",
                          lambda m: "thread_id=" + self.tid(int(m.group(1))), v)
        return v


# ---------------------------------------------------------------------------
# Golden files

class Golden:
    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.stem
        self.headers = {}
        self.items = []            # ('<', bytes) / ('>', text, lineno)
        in_header = True
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                m = re.match(r"#\s*([a-z-]+):\s?(.*)$", line)
                if in_header and m:
                    key = m.group(1)
                    if key not in HEADER_KEYS:
                        raise ValueError("%s:%d: unknown header %r" % (path, n, key))
                    if key in ("note", "seed") and key in self.headers:
                        self.headers[key] += " " + m.group(2)
                    else:
                        self.headers[key] = m.group(2).strip()
                continue
            if line.startswith("<- "):
                in_header = False
                text = line[3:]
                if self.headers.get("input") == "escaped":
                    data = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
                else:
                    data = text.encode()
                self.items.append(("<", data, n))
            elif line.startswith("-> "):
                in_header = False
                parse(line[3:])          # must be valid JSON
                self.items.append((">", line[3:], n))
            else:
                raise ValueError("%s:%d: not a header, comment, <- or -> line: %r"
                                 % (path, n, line))
        if not self.items:
            raise ValueError("%s: empty transcript" % path)

    def h(self, key, default=None):
        return self.headers.get(key, default)

    @property
    def greeting(self):
        """The expected greeting if the file starts with one."""
        if self.items[0][0] == ">":
            return self.items[0][1]
        return None

    def exchanges(self):
        """[(request bytes or None, [expected lines])] after the greeting."""
        items = self.items[1:] if self.greeting is not None else self.items
        out = []
        for it in items:
            if it[0] == "<":
                out.append([it[1], []])
            else:
                if not out:
                    out.append([None, []])
                out[-1][1].append(it)
        return out


def take_option(args, name):
    """Removes `name VALUE` from args; returns VALUE (None if absent)."""
    if name not in args:
        return None
    i = args.index(name)
    value = args[i + 1]
    del args[i:i + 2]
    return value


class GoldenVm(Vm):
    """Vm with the QMP monitor options and the launch style of a golden file."""

    def __init__(self, binary, qmp_opts="", launch="", **kw):
        self.launch_style = set(filter(None, launch.split(",")))
        assert self.launch_style <= {"config", "api-channel"}, "bad launch: %r" % launch
        assert not (qmp_opts and "api-channel" in self.launch_style), \
            "-api-channel takes no monitor options"
        if "api-channel" in self.launch_style:
            kw["qmp"] = "api-channel"
        super().__init__(binary, qmp_opts=qmp_opts, **kw)

    def build_args(self):
        a = super().build_args()
        if "config" in self.launch_style:
            a = a[:1] + self.config_file(a[1:])
        return a

    def config_file(self, args):
        """Moves what StratoVirt 0.x's JSON can say into a -config file."""
        machine = take_option(args, "-machine")
        mem = take_option(args, "-m")
        smp = take_option(args, "-smp")
        conf = {"machine-config": {"type": "MicroVm" if machine == "microvm" else machine},
                "boot-source": {"kernel_image_path": take_option(args, "-kernel")}}
        if mem:
            m = re.match(r"^(\d+)([KMG]?)$", mem.upper())
            conf["machine-config"]["mem_size"] = int(m.group(1)) * SIZE_SUFFIX[m.group(2) or "M"]
        if smp:
            cpus = smp.split(",")[0].replace("cpus=", "")
            assert cpus.isdigit(), "launch: config needs -smp N[,...], not %r" % smp
            conf["machine-config"]["vcpu_count"] = int(cpus)
            if smp != cpus:
                # 0.x's file has no topology: the command line's -smp overrides
                # the file's vcpu_count, as StratoVirt let it
                args[:0] = ["-smp", smp]
        append = take_option(args, "-append")
        if append is not None:
            conf["boot-source"]["boot_args"] = append
        for i in range(len(args) - 1):
            if args[i:i + 2] == ["-device", "virtio-balloon-device"]:
                conf["balloon"] = {}             # the file's balloon section
                del args[i:i + 2]
                break
        path = os.path.join(self.sockdir, "vm.json")
        with open(path, "w") as f:
            json.dump(conf, f, indent=4)
        return ["-config", path] + args


class Wire:
    """Raw QMP connection: sends bytes (optionally with an fd), reads raw lines."""

    def __init__(self, path, timeout=10.0):
        self.sock = connect_unix(path, timeout)
        self.buf = b""
        self.timeout = timeout
        self.log = []

    def send(self, data, fd=None):
        self.log.append("<- %r" % data)
        if fd is None:
            self.sock.sendall(data)
        else:
            n = socket.send_fds(self.sock, [data], [fd])
            if n < len(data):
                self.sock.sendall(data[n:])

    def line(self, timeout=None):
        """One raw line including its \\r\\n; b'' at EOF; None on timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        self.log.append("-> %r" % (line + b"\n"))
        return line + b"\n"

    def close(self):
        self.sock.close()


def wire_problems(raw):
    """Why raw (one message as received) is not compact single-line JSON + \\r\\n."""
    probs = []
    if not raw.endswith(b"\r\n"):
        probs.append("not terminated by \\r\\n")
    body = raw[:-2] if raw.endswith(b"\r\n") else raw.rstrip(b"\n")
    if b"\r" in body or b"\n" in body:
        probs.append("more than one line")
    if any(c < 0x20 or c > 0x7e for c in body):
        probs.append("not printable ASCII")
    try:
        text = body.decode("ascii")
        v = parse(text)
        if not isinstance(v, Obj):
            probs.append("not a JSON object")
        # \uXXXX escapes may use either hex case
        canon = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: "\\u" + m.group(1).lower(), text)
        if canon != compact(v):
            probs.append("not compact: expected %s" % compact(v))
    except (UnicodeDecodeError, ValueError) as e:
        probs.append("not JSON: %s" % e)
    return probs


def render(v):
    return compact(v)


def fake_v4l2_env(path):
    """The environment that preloads tests/functional/fake-v4l2.c into the VMM,
    making `path` a V4L2 capture node (`# fake-camera:` header). A sanitizer
    runtime wants to be first in the library list; the shim needs no such order."""
    here = Path(__file__).resolve().parent
    lib = (here if INSTALLED else BUILD_DIR / "tests/functional") / \
        "libstratus-fake-v4l2.so"
    assert lib.exists(), "%s is not built (meson builds it with the VMM)" % lib
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": str(lib.resolve()), "STRATUS_FAKE_V4L2": path,
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


def run_golden(g, make_vm, vm_factory_kw=None):
    """Replays g; returns (vm, list of failure strings, actual transcript lines)."""
    opts = ""
    if g.h("greeting"):
        opts += ",qmp-greeting=" + g.h("greeting")
    if g.h("mode"):
        opts += ",qmp-mode=" + g.h("mode")
    if g.h("rate-limit"):
        opts += ",rate-limit=" + g.h("rate-limit")
    boot = g.h("boot", "prompt")
    args = shlex.split(g.h("args", ""))
    smp = None
    if "-smp" in args:
        i = args.index("-smp")
        smp = args[i + 1]
        del args[i:i + 2]
    if "-m" in args:             # the file sizes the guest (the VM's own -m otherwise)
        i = args.index("-m")
        vm_factory_kw = dict(vm_factory_kw or {}, mem=args[i + 1])
        del args[i:i + 2]
    if "-accel" in args:         # the file names its accelerator (e.g. qtest)
        vm_factory_kw = dict(vm_factory_kw or {}, accel=None)
    freeze = "-S" in args
    if freeze:
        args.remove("-S")
    if g.h("fake-camera"):
        vm_factory_kw = dict(vm_factory_kw or {}, env=fake_v4l2_env(g.h("fake-camera")))
    vm = make_vm(cls=GoldenVm, qmp_opts=opts, launch=g.h("launch", ""), smp=smp,
                 freeze=freeze or boot == "frozen",
                 extra_args=args, connect_qmp=False, **(vm_factory_kw or {}))
    images = {}
    for spec in filter(None, (x.strip() for x in g.h("images", "").split(","))):
        name, _, size = spec.partition("=")
        m = re.match(r"^(\d+)([KMG]?)$", size.strip().upper())
        assert m and re.match(r"^[\w.-]+$", name), "bad images entry %r" % spec
        images[name] = int(m.group(1)) * SIZE_SUFFIX[m.group(2)]
    for name, size in images.items():
        with open(os.path.join(vm.sockdir, name), "wb") as f:
            f.truncate(size)
    # `args` may name the images too (-drive file=/path/to/NAME).
    vm.extra_args = [a.replace("/path/to/", vm.sockdir + "/") for a in vm.extra_args]
    vm.launch()
    if boot == "prompt":
        vm.console.wait_prompt()
    elif boot == "frozen":
        got = vm.console.expect_silence(1.0, poke=(0.4, "\r"))
        assert PROMPT not in got and "stratus-testguest" not in got, \
            "guest ran although started with -S: %r" % got
    wire = Wire(vm.qmp_path)
    failures = []
    actual = []
    expect_norm = Normaliser()
    act_norm = Normaliser(vm, actual=True)

    def check(raw, expected, where):
        if raw is None:
            failures.append("%s: timeout waiting for %s" % (where, expected))
            return
        if raw == b"":
            failures.append("%s: EOF, expected %s" % (where, expected))
            return
        text = raw.decode("latin-1").rstrip("\r\n")
        actual.append("-> " + text)
        for p in wire_problems(raw):
            failures.append("%s: wire form of %r: %s" % (where, raw, p))
        try:
            got = act_norm(parse(text))
        except ValueError:
            failures.append("%s: unparsable %r" % (where, raw))
            return
        want = expect_norm(parse(expected))
        if got != want:
            failures.append("%s:\n   expected %s\n   actual   %s"
                            % (where, render(want), render(got)))

    try:
        greet = wire.line()
        if g.greeting is not None:
            check(greet, g.greeting, "greeting (line %d)" % g.items[0][2])
        else:
            actual.append("-> " + (greet or b"").decode("latin-1").rstrip("\r\n"))
            for p in wire_problems(greet or b""):
                failures.append("greeting: %s" % p)
        scm = {int(x) for x in g.h("scm-fd", "").split(",") if x.strip()}
        exchanges = g.exchanges()
        # Always: a request naming /path/to/ must never touch the host's /path/to.
        real = (vm.sockdir.rstrip("/") + "/").encode()
        exchanges = [[req.replace(b"/path/to/", real) if req else req, exp]
                     for req, exp in exchanges]
        batch = g.h("send", "step") == "batch"
        if batch:
            data = b"".join(req for req, _ in exchanges if req is not None)
            wire.send(data)
            actual.extend("<- " + req.decode("latin-1") for req, _ in exchanges if req)
        nreq = 0
        for req, expected in exchanges:
            if req is not None and not batch:
                nreq += 1
                fd = None
                if nreq in scm:
                    fd = os.open("/dev/null", os.O_RDONLY)
                try:
                    wire.send(req, fd)
                finally:
                    if fd is not None:
                        os.close(fd)
                actual.append("<- " + req.decode("latin-1"))
            for _, text, lineno in expected:
                check(wire.line(), text, "%s:%d" % (g.path.name, lineno))
        exit_status = g.h("exit")
        if exit_status is not None:
            rest = wire.line(15)
            if rest:
                actual.append("-> " + rest.decode("latin-1").rstrip("\r\n"))
                failures.append("unexpected message before EOF: %r" % rest)
            elif rest is None:
                failures.append("the monitor did not hang up after the transcript")
            status = vm.wait(15)
            if status != int(exit_status):
                failures.append("exit status %s, expected %s" % (status, exit_status))
        else:
            extra = wire.line(float(g.h("quiet", "0.3")))
            if extra:
                actual.append("-> " + extra.decode("latin-1").rstrip("\r\n"))
                failures.append("unexpected extra message: %r" % extra)
            elif extra == b"":
                failures.append("the monitor hung up")
        if g.h("console"):
            vm.console.read_until(g.h("console"), timeout=30, poke=(1.0, "\r"))
        failures.extend(act_norm.errors)
    finally:
        wire.close()
    if PRINT:
        print("\n===== %s (actual) =====" % g.path.name)
        print("\n".join(actual))
    return vm, failures, actual


def golden_params(paths):
    """pytest.param(path, accel) for every file and every accelerator it is
    replayed on (its `# accel:` header, else all of ACCELS); ids accel-stem, like
    the other accelerator-parametrised tests."""
    out = []
    for p in paths:
        only = Golden(p).h("accel")
        for a in ACCELS:
            if only is None or only == a:
                out.append(pytest.param(p, a, id="%s-%s" % (a, p.stem)))
    return out


@pytest.mark.parametrize("path,accel", golden_params(GOLDEN_FILES))
def test_golden(path, make_vm):
    g = Golden(path)
    vm, failures, actual = run_golden(g, make_vm)
    assert not failures, "%s does not match:\n%s\n--- actual transcript ---\n%s" % (
        path.name, "\n".join(failures), "\n".join(actual))
    if g.h("exit") is None:
        # the VM must still answer (and the connection be reusable by a new client)
        w = Wire(vm.qmp_path)
        try:
            w.line()
            if g.h("mode") == "strict":
                w.send(b'{"execute":"qmp_capabilities"}')
                assert parse(w.line().decode()) == parse('{"return":{}}')
            w.send(b'{"execute":"query-status"}')
            r = parse(w.line().decode())
            assert r.keys() == ["return"], r
        finally:
            w.close()


def test_golden_files_are_well_formed():
    """Every file parses, declares what it covers, and the seed files exist."""
    assert GOLDEN_FILES, "no golden files in %s" % GOLDEN_DIR
    seeds_dir = Path(__file__).resolve().parents[3] / "shared" / "seeds"
    for p in GOLDEN_FILES:
        g = Golden(p)
        assert g.h("seed") or g.h("note"), "%s: needs a '# seed:' or '# note:' header" % p.name
        assert g.h("accel") in (None,) + ACCELS, "%s: accel must be one of %s" % (p.name, ACCELS)
        if g.h("seed") and seeds_dir.is_dir():
            seed_file = g.h("seed").split()[0]
            assert (seeds_dir / seed_file).exists(), "%s: no seed %s" % (p.name, seed_file)
        assert re.match(r"^[0-9a-z][0-9a-z-]*$", p.stem), "bad file name %s" % p.name


def test_normaliser_only_touches_timestamps_and_tids():
    n = Normaliser()
    a = parse('{"event":"STOP","data":{},"timestamp":{"seconds":1,"microseconds":2}}')
    b = parse('{"event":"STOP","data":{},"timestamp":{"seconds":3,"microseconds":4}}')
    assert n(a) == n(b)
    # member order matters
    c = parse('{"data":{},"event":"STOP","timestamp":{"seconds":3,"microseconds":4}}')
    assert n(a) != n(c)
    # the topology thread-id in props is not a host tid
    d = parse('{"return":[{"cpu-index":0,"props":{"thread-id":0},"thread-id":77}]}')
    e = parse('{"return":[{"cpu-index":0,"props":{"thread-id":1},"thread-id":78}]}')
    assert n(d) != n(e)
    assert wire_problems(b'{"return":{}}\r\n') == []
    assert wire_problems(b'{"return": {}}\r\n')
    assert wire_problems(b'{"return":{}}\n')


def test_runner_detects_mismatches(make_vm, tmp_path):
    """The comparison is not vacuous: member order, values and extra replies count."""
    p = tmp_path / "order.txt"
    p.write_text('# note: wrong member order\n'
                 '<- {"execute":"query-status"}\n'
                 '-> {"return":{"status":"running","singlestep":false,"running":true}}\n'
                 '<- {"execute":"query-name","id":1}\n'
                 '-> {"return":{},"id":2}\n'
                 '<- {"execute":"stop"}\n'
                 '-> {"return":{}}\n')
    vm, failures, _ = run_golden(Golden(p), make_vm)
    text = "\n".join(failures)
    assert "golden/order.txt" not in text and len(failures) == 4, failures
    assert '"status":"running","singlestep":false' in text          # order
    assert '"id":2' in text                                            # value
    assert "unexpected extra message" in text                          # the STOP reply
