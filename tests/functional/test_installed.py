"""The installed conformance suite (issue 14, docs/conformance.md).

`meson install --destdir` of the build into a temporary directory, then checks
of what it installed (the VMM and its qtest link, stratus(1) rendered from the
option table, the docs, the test suite, the GNOME installed-tests .test files)
and runs of the installed `stratus-conformance` from there, with no source tree
and no build directory in its environment, on a small subset (the whole suite is
what packagers run; this keeps CI short):

  * one option test, one boot test and one golden transcript on emu, and the
    pvpanic qtest program: exit 0 and well-formed report.md / report.xml with a
    row for every registry entry, each pass, fail or n/a with a reason (the rows
    outside the subset n/a "not run"), the qtest program's QMP commands counted;
  * the same binary behind a wrapper that prints a wrong -version: the report
    marks the -version row failed and the runner exits 1;
  * a .test file run by gnome-desktop-testing-runner, as a distribution would.
"""

import configparser
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import BUILD_DIR, ROOT

pytestmark = [pytest.mark.source_tree("meson install of the build directory"),
              pytest.mark.install, pytest.mark.test_timeout(300)]

SUBSET = ["test_cmdline.py::test_help", "test_boot.py::test_boot_to_prompt[emu-stdio]",
          "test_golden.py::test_golden[emu-000-cont]", "qtest/pvpanic-test"]
RUNNER_ENV_DROP = ("STRATUS_BIN", "STRATUS_BUILD_DIR", "STRATUS_GUEST_BZIMAGE",
                   "STRATUS_GUEST_VMLINUX", "PYTHONPATH", "CI")


def introspect(what):
    p = subprocess.run(["meson", "introspect", str(BUILD_DIR), what], capture_output=True,
                       text=True, timeout=60, check=True)
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    """-> (destdir, {option: absolute install dir}) of a fresh meson install."""
    dest = tmp_path_factory.mktemp("install") / "dest"
    p = subprocess.run(["meson", "install", "-C", str(BUILD_DIR), "--no-rebuild", "--quiet",
                        "--destdir", str(dest)], capture_output=True, text=True, timeout=300,
                       cwd=ROOT)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    opts = {o["name"]: o["value"] for o in introspect("--buildoptions")}
    prefix = opts["prefix"]
    dirs = {k: os.path.join(prefix, opts[k]) for k in ("bindir", "libexecdir", "datadir",
                                                        "mandir")}
    return dest, dirs


def staged(dest, path):
    return dest / str(path).lstrip("/")


def runner_env():
    return {k: v for k, v in os.environ.items() if k not in RUNNER_ENV_DROP}


def run_runner(runner, out, only, cwd, **env):
    args = [str(runner), "--output", str(out)]
    for sel in only:
        args += ["--only", sel]
    return subprocess.run(args, cwd=cwd, env=dict(runner_env(), **env), capture_output=True,
                          text=True, timeout=240, stdin=subprocess.DEVNULL)


def test_installed_files(install, stratus):
    dest, d = install
    bindir, tests = staged(dest, d["bindir"]), staged(dest, d["libexecdir"])
    tests = tests / "installed-tests" / "stratus"
    assert (bindir / "stratus").is_file()
    assert os.readlink(bindir / "stratus-system-x86_64") == "stratus"
    assert os.access(bindir / "stratus-conformance", os.X_OK)
    docs = staged(dest, d["datadir"]) / "doc" / "stratus"
    assert (docs / "README.md").is_file() and (docs / "docs" / "conformance.md").is_file()
    for name in ("conftest.py", "stratus_vm.py", "test_boot.py", "installed-layout.json",
                 "golden/README.md", "golden/000-cont.txt"):
        assert (tests / "functional" / name).is_file(), name
    assert not (tests / "functional" / "meson.build").exists()
    assert (tests / "guest" / "bzImage").is_file() and (tests / "guest" / "vmlinux.bin").is_file()
    built = sorted(p.name for p in (BUILD_DIR / "tests" / "qtest").iterdir()
                   if p.name.endswith("-test") and p.is_file() and p.name != "clock-test")
    assert built and sorted(p.name for p in (tests / "qtest").iterdir()) == built
    for name in ("conformance_plugin.py", "conformance_report.py", "conformance_registry.py"):
        assert (tests / "conformance" / name).is_file(), name


def test_man_page_is_the_option_table(install, stratus):
    """stratus(1) has every option of -help, with the same argument and text."""
    dest, d = install
    man = (staged(dest, d["mandir"]) / "man1" / "stratus.1").read_text()
    assert man.startswith('.\\" Generated') and "\n.TH STRATUS 1 " in man
    help_text = subprocess.run([str(stratus), "-help"], capture_output=True, text=True,
                               timeout=10).stdout
    heads = re.findall(r"^  -(\S+?)(?:, -(\S+))?(?: (.*))?\n        (.*)$", help_text, re.M)
    assert len(heads) > 20
    unroff = man.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "").replace("\\:", "")
    for name, alias, arg, text in heads:
        head = "\\fB-%s\\fR" % name + (", \\fB-%s\\fR" % alias if alias else "")
        head += " \\fI%s\\fR" % arg if arg else ""
        assert ".TP\n%s\n%s\n" % (head, text) in unroff, name
    if shutil.which("groff"):
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=man,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and not p.stderr.strip(), p.stderr


def test_installed_test_descriptions(install):
    """share/installed-tests/stratus/*.test: [Test], Type=session, Exec= the runner."""
    dest, d = install
    meta = staged(dest, d["datadir"]) / "installed-tests" / "stratus"
    files = sorted(meta.glob("*.test"))
    runner = os.path.join(d["bindir"], "stratus-conformance")
    modules = sorted((ROOT / "tests" / "functional").glob("test_*.py"))
    # the modules marked as needing the source tree (this one among them) get none
    tree_only = {p.stem for p in modules if re.search(
        r"^pytestmark\s*=[^\n]*(?:\n[ \t]+[^\n]*)*?source_tree", p.read_text(), re.M)}
    assert {"test_installed", "test_qtest_binary"} <= tree_only
    assert "test_linux_emu" not in tree_only      # the Linux lane is installed too
    expect = sorted(p.stem for p in modules if p.stem not in tree_only)
    assert sorted(p.stem for p in files if p.stem.startswith("functional-")) == \
        ["functional-" + m for m in expect]
    qtests = sorted(p.name for p in (staged(dest, d["libexecdir"]) / "installed-tests" /
                                     "stratus" / "qtest").iterdir())
    assert sorted(p.stem for p in files if p.stem.startswith("qtest-")) == \
        ["qtest-" + q for q in qtests]
    for p in files:
        c = configparser.ConfigParser(interpolation=None)
        c.optionxform = str
        c.read(p)
        assert c.sections() == ["Test"], p
        assert dict(c["Test"]).keys() == {"Type", "Exec"}, p
        assert c["Test"]["Type"] == "session"
        assert c["Test"]["Exec"].split()[0] == runner, p


def check_report(out, expect_fail=()):
    md = (out / "report.md").read_text()
    root = ET.parse(out / "report.xml").getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["QMP commands", "QMP events", "Command-line options",
                            "Device types", "tests"]
    rows = {}
    for name, s in suites.items():
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases) > 0, name
        assert int(s.get("failures")) == sum(c.find("failure") is not None for c in cases)
        if name == "tests":
            continue
        for c in cases:
            status = c.find("properties/property").get("value")
            rows[(c.get("classname").split(".")[1], c.get("name"))] = status
            assert status in ("pass", "fail", "n/a"), (c.get("name"), status)
            assert "| `%s` |" % c.get("name") in md or "`-%s`" % c.get("name") in md
            if status == "n/a":
                assert c.find("skipped").get("message"), c.get("name")
                if c.find("skipped").get("message").startswith("not run: "):
                    assert "- %s `%s`: N/A" % (c.get("classname").split(".")[1],
                                               c.get("name")) in md
    for key in expect_fail:
        assert rows[key] == "fail", (key, rows[key])
    assert "## Rows no test exercised" in md and "| rows | pass | fail | n/a |" in md
    assert "UNTESTED" not in md
    return rows, md


def test_runner_on_a_subset(install, tmp_path):
    """The installed runner, from a directory outside the source tree, with a
    relative --output as README shows it (the tests run in another directory)."""
    dest, d = install
    runner = staged(dest, d["bindir"]) / "stratus-conformance"
    out = tmp_path / "report"
    p = run_runner(runner, "report", SUBSET, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:] + (
        (out / "pytest.log").read_text()[-3000:] if (out / "pytest.log").exists() else "")
    assert "4 passed, 0 failed, 0 skipped" in p.stdout, p.stdout
    rows, md = check_report(out)
    reg = subprocess.run([str(staged(dest, d["bindir"]) / "stratus"), "-help"],
                         capture_output=True, text=True, timeout=10).stdout
    assert {n for c, n in rows if c == "option"} == set(re.findall(r"^  -([^\s,]+)", reg, re.M))
    assert rows[("option", "help")] == "pass"            # test_help
    assert rows[("option", "kernel")] == "pass"          # the boot test
    assert rows[("command", "cont")] == "pass"           # golden 000-cont
    assert rows[("device", "pvpanic")] == "pass"         # qtest/pvpanic-test
    assert rows[("event", "GUEST_PANICKED")] == "pass"   # read by qtest/pvpanic-test
    assert rows[("command", "balloon")] == "n/a"         # not in the subset
    assert "| `balloon` | N/A |  | not run: no test of this subset run exercises it |" in md
    assert "- **suite**: installed" in md


def test_runner_exit_follows_failures(install, tmp_path, stratus):
    """A binary whose -version is wrong: the row fails and so does the run."""
    dest, d = install
    runner = staged(dest, d["bindir"]) / "stratus-conformance"
    fake = tmp_path / "bin" / "stratus"
    fake.parent.mkdir()
    real = staged(dest, d["bindir"]) / "stratus"
    fake.write_text('#!/bin/sh\n[ "$1" = -version ] && { echo "Bogus VMM 9"; exit 0; }\n'
                    'exec %s "$@"\n' % real)
    fake.chmod(0o755)
    out = tmp_path / "report"
    p = run_runner(runner, out, ["test_cmdline.py::test_version", "test_cmdline.py::test_help"],
                   cwd=tmp_path, STRATUS_BIN=str(fake))
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 passed, 1 failed, 0 skipped" in p.stdout, p.stdout
    rows, md = check_report(out, expect_fail=[("option", "version")])
    assert rows[("option", "help")] == "pass"
    assert "## Failed tests" in md and "test_cmdline.py::test_version" in md


def test_gnome_desktop_testing_runner(install, tmp_path):
    """A distribution's CI: gnome-desktop-testing-runner runs a .test file as
    installed (its paths moved into the staging directory)."""
    gdtr = shutil.which("gnome-desktop-testing-runner")
    if not gdtr:
        pytest.skip("gnome-desktop-testing-runner not installed (apt-get install "
                    "gnome-desktop-testing)")
    dest, d = install
    src = staged(dest, d["datadir"]) / "installed-tests" / "stratus" / "qtest-pvpanic-test.test"
    data = tmp_path / "data"
    (data / "installed-tests" / "stratus").mkdir(parents=True)
    text = src.read_text().replace("Exec=" + d["bindir"], "Exec=" + str(staged(dest, d["bindir"])))
    (data / "installed-tests" / "stratus" / src.name).write_text(text)
    p = subprocess.run([gdtr, "-d", str(data), "stratus"], cwd=tmp_path,
                       env=runner_env(), capture_output=True, text=True, timeout=240,
                       stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert re.search(r"PASS: stratus/qtest-pvpanic-test\.test", out), out
    assert "SUMMARY: total=1; passed=1;" in out, out
