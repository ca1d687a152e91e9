#!/usr/bin/env python3
"""Fail when a lower layer of src/ includes a higher one.

From the bottom: util/ stands alone; the host back ends (block/, chardev/,
backends/)
know nothing of guests, so not accel/, hw/, qmp/, migration/, machine.h or
cpus.h; the accelerators (accel/) run guest code without knowing devices or
QMP; devices (hw/) do not know QMP. A lower layer that includes a higher one
cannot be built, tested or reused without it, and such includes are how
device code ends up building QMP replies or reaching into the machine. Only
`#include "..."` lines are checked: system headers are not ours.

Usage: check-layering.py [SRC_DIR]   (default: src/ next to this script)
Exit status 1 and one line per violation (file:line, the rule, the include).
"""
import os
import re
import sys

# (what includes, predicate on the included path, the rule as printed)
RULES = [
    ("util/", lambda inc: not inc.startswith("util/"),
     "util/ must only include util/"),
    ("block/", lambda inc: inc.startswith(("accel/", "hw/", "qmp/", "migration/"))
     or inc in ("machine.h", "cpus.h"),
     "block/ must not include accel/, hw/, qmp/, migration/, machine.h or cpus.h"),
    ("chardev/", lambda inc: inc.startswith(("accel/", "hw/", "qmp/", "migration/"))
     or inc in ("machine.h", "cpus.h"),
     "chardev/ must not include accel/, hw/, qmp/, migration/, machine.h or cpus.h"),
    ("backends/", lambda inc: inc.startswith(("accel/", "hw/", "qmp/", "migration/"))
     or inc in ("machine.h", "cpus.h"),
     "backends/ must not include accel/, hw/, qmp/, migration/, machine.h or cpus.h"),
    ("accel/", lambda inc: inc.startswith(("hw/", "qmp/")),
     "accel/ must not include hw/ or qmp/"),
    ("hw/", lambda inc: inc.startswith("qmp/"),
     "hw/ must not include qmp/"),
]

# Known violations that someone is removing, as (including file relative to
# src/, included path), each with a comment saying who removes it; nothing
# else may go here. An entry that no longer matches is reported so that it
# can be deleted. Empty: issue 9 removed the last one (hw/x86/microvm-virtio.c
# building QMP JSON). qmp/ including hw/ breaks no rule: QMP is above the
# devices.
ALLOWED = set()

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def resolve(src, path, inc):
    """The included file relative to src/: the project includes from src/,
    but a name next to the includer (e.g. "emu-cpu.h", "../machine.h") is
    resolved against the includer's directory first, as the compiler does."""
    local = os.path.normpath(os.path.join(os.path.dirname(path), inc))
    if inc.startswith(".") or os.path.exists(os.path.join(src, local)):
        return local.replace(os.sep, "/")
    return os.path.normpath(inc).replace(os.sep, "/")


def check(src):
    """Returns (violations, allow-list entries that were used)."""
    bad = []
    used = set()
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src).replace(os.sep, "/")
            rules = [r for r in RULES if rel.startswith(r[0])]
            if not rules:
                continue
            with open(full, encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE_RE.match(line)
                    if not m:
                        continue
                    inc = resolve(src, rel, m.group(1))
                    for _, forbidden, rule in rules:
                        if not forbidden(inc):
                            continue
                        if (rel, inc) in ALLOWED:
                            used.add((rel, inc))
                        else:
                            bad.append("src/%s:%d: %s: %s"
                                       % (rel, lineno, rule, line.strip()))
    return bad, used


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    if not os.path.isdir(src):
        print("check-layering: no such directory: %s" % src, file=sys.stderr)
        return 2
    bad, used = check(src)
    for rel, inc in sorted(ALLOWED - used):
        print("check-layering: note: src/%s no longer includes \"%s\"; "
              "delete its ALLOWED entry" % (rel, inc))
    for b in bad:
        print(b)
    if bad:
        print("check-layering: %d upward include(s); see the rules in %s"
              % (len(bad), os.path.relpath(__file__)), file=sys.stderr)
        return 1
    print("check-layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
