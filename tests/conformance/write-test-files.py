#!/usr/bin/env python3
"""meson install script: the GNOME installed-tests descriptions of Stratus.

Writes share/installed-tests/stratus/<unit>.test for every functional module
and qtest program that was just installed (so a module added to
tests/functional gets its .test without anyone editing a list):

    [Test]
    Type=session
    Exec=<prefix>/bin/stratus-conformance --output stratus-conformance-report --only <unit>

Modules whose pytestmark carries `source_tree` (they need the source or build
tree and skip in an installed suite) get none.

Usage (meson.add_install_script): write-test-files.py TESTS_DIR META_DIR RUNNER,
the first two relative to the prefix, RUNNER absolute; MESON_INSTALL_DESTDIR_PREFIX
says where the prefix is staged.
"""
import os
import re
import sys
from pathlib import Path

PYTESTMARK = re.compile(r"^pytestmark\s*=.*?(?=^\S|\Z)", re.M | re.S)


def installable_modules(functional_dir):
    """The functional modules an installed suite runs, sorted."""
    out = []
    for p in sorted(Path(functional_dir).glob("test_*.py")):
        m = PYTESTMARK.search(p.read_text())
        if m and "source_tree" in m.group(0):
            continue
        out.append(p.name)
    return out


def units(tests_dir):
    u = {"functional-" + m[:-len(".py")]: m for m in installable_modules(tests_dir / "functional")}
    qtest = tests_dir / "qtest"
    if qtest.is_dir():
        for p in sorted(qtest.iterdir()):
            if p.is_file() and os.access(p, os.X_OK):
                u["qtest-" + p.name] = "qtest/" + p.name
    return u


def main(argv):
    tests_rel, meta_rel, runner = argv
    staged = Path(os.environ["MESON_INSTALL_DESTDIR_PREFIX"])
    meta = staged / meta_rel.lstrip("/")
    meta.mkdir(parents=True, exist_ok=True)
    for old in meta.glob("*.test"):
        old.unlink()
    for name, sel in units(staged / tests_rel.lstrip("/")).items():
        (meta / (name + ".test")).write_text(
            "[Test]\nType=session\nExec=%s --output stratus-conformance-report --only %s\n"
            % (runner, sel))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
