"""The registries of the stratus binary under test, read at run time.

stratus-conformance takes its report rows from here, so a command, event,
option or device type added to Stratus gets a row without anyone editing the
runner:

  options       `stratus -help` (rendered from src/options/opt-table.c)
  device types  `stratus -device help` (user-creatable types and aliases) and
                QMP qom-list-types: every concrete type below "device"
  commands      QMP query-commands
  events        QMP query-qmp-schema (meta-type "event")

QMP is asked of `stratus -machine none -accel qtest`: no guest, no CPU, so
every host can answer.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

HELP_HEAD = re.compile(r"^  -(?P<name>[^\s,]+)(?:, -(?P<alias>\S+))?(?: (?P<arg>.*))?$")
DEVICE_HELP = re.compile(r'^name "(?P<name>[^"]+)"(?P<rest>.*)$')
ALIAS = re.compile(r'alias "([^"]+)"')


class RegistryError(Exception):
    pass


def run_help(binary, *args):
    p = subprocess.run([str(binary)] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RegistryError("%s %s exited %d: %s" % (binary, " ".join(args), p.returncode,
                                                     p.stderr.strip()[:500]))
    return p.stdout


def parse_help(text):
    """-help text -> [{"name", "alias", "arg", "help"}] in table order."""
    opts = []
    for line in text.splitlines():
        m = HELP_HEAD.match(line)
        if m:
            opts.append({"name": m.group("name"), "alias": m.group("alias"),
                         "arg": m.group("arg"), "help": ""})
        elif opts and line.startswith("        ") and not opts[-1]["help"]:
            opts[-1]["help"] = line.strip()
    return opts


def parse_device_help(text):
    """-device help -> {name: [aliases]}."""
    types = {}
    for line in text.splitlines():
        m = DEVICE_HELP.match(line.strip())
        if m:
            types[m.group("name")] = ALIAS.findall(m.group("rest"))
    return types


def device_types(qom_types):
    """Concrete types whose ancestry reaches "device", from qom-list-types with
    abstract=true ([{"name", "parent", "abstract"?}])."""
    parent = {t["name"]: t.get("parent") for t in qom_types}
    out = []
    for t in qom_types:
        if t.get("abstract"):
            continue
        seen, p = set(), t.get("parent")
        while p and p not in seen:
            if p == "device":
                out.append(t["name"])
                break
            seen.add(p)
            p = parent.get(p)
    return sorted(out)


class _Qmp:
    def __init__(self, path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RegistryError("no QMP socket at %s after %.0fs" % (path, timeout))
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.rfile = self.sock.makefile("rb")
        self.readline()                                   # greeting

    def readline(self):
        line = self.rfile.readline()
        if not line:
            raise RegistryError("the probe VMM closed its QMP socket")
        return json.loads(line)

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.readline()
            if "event" in r:
                continue
            if "return" not in r:
                raise RegistryError("%s: %s" % (cmd, r))
            return r["return"]

    def close(self):
        self.rfile.close()
        self.sock.close()


def probe_qmp(binary, timeout=20.0):
    """-> (commands, events, qom types) from a guestless qtest VMM."""
    d = tempfile.mkdtemp(prefix="st-reg-", dir="/tmp")
    path = os.path.join(d, "qmp.sock")
    proc = subprocess.Popen([str(binary), "-machine", "none", "-accel", "qtest",
                             "-display", "none", "-qmp", "unix:%s,server,nowait" % path],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        q = _Qmp(path, timeout)
        try:
            q.execute("qmp_capabilities")
            commands = sorted(c["name"] for c in q.execute("query-commands"))
            events = sorted(e["name"] for e in q.execute("query-qmp-schema")
                            if e.get("meta-type") == "event")
            types = q.execute("qom-list-types", abstract=True)
            q.execute("quit")
        finally:
            q.close()
        proc.wait(timeout=timeout)
        return commands, events, types
    except (OSError, ValueError, subprocess.TimeoutExpired, RegistryError) as e:
        proc.kill()
        err = proc.communicate()[1].decode(errors="replace").strip()
        raise RegistryError("probing %s over QMP failed: %s%s" % (binary, e,
                            ("; stderr: " + err[:500]) if err else ""))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


def read_registries(binary):
    """Every registry of the binary, as {"version", "options", "devices",
    "device_aliases", "commands", "events"}."""
    version = run_help(binary, "-version").strip()
    options = parse_help(run_help(binary, "-help"))
    if not options:
        raise RegistryError("%s -help lists no options" % binary)
    creatable = parse_device_help(run_help(binary, "-device", "help"))
    commands, events, qom_types = probe_qmp(binary)
    devices = sorted(set(device_types(qom_types)) | set(creatable))
    aliases = {a: name for name, al in creatable.items() for a in al}
    return {"version": version, "options": options, "devices": devices,
            "user_creatable": sorted(creatable), "device_aliases": aliases,
            "commands": commands, "events": events}
