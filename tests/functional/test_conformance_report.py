"""stratus-conformance's own logic, on made-up data (no VM; docs/conformance.md):
the row status rules, command lines to option and device rows, the plugin's
view of QMP traffic, TAP parsing, and the report files.  test_installed.py
runs the real thing."""

import importlib.machinery
import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

# tests/conformance in the source tree, conformance/ beside functional/ installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "conformance"))
import conformance_plugin as plugin  # noqa: E402
import conformance_report as report  # noqa: E402
from conftest import LAYOUT  # noqa: E402


def load_runner():
    """The runner beside this suite: bin/ when installed, tests/conformance in tree."""
    path = (LAYOUT["bindir"] if LAYOUT else
            Path(__file__).resolve().parent.parent / "conformance") / "stratus-conformance"
    loader = importlib.machinery.SourceFileLoader("stratus_conformance", str(path))
    spec = importlib.util.spec_from_loader("stratus_conformance", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


REG = {"commands": ["cont", "quit", "stop"], "events": ["RESUME", "STOP"],
       "options": [{"name": "machine", "alias": "M", "arg": "TYPE", "help": ""},
                   {"name": "m", "alias": None, "arg": "SIZE", "help": ""},
                   {"name": "device", "alias": None, "arg": "DRIVER", "help": ""},
                   {"name": "S", "alias": "freeze", "arg": None, "help": ""}],
       "devices": ["pvpanic", "virtio-blk-device"],
       "device_aliases": {"virtio-blk-mmio": "virtio-blk-device"}}


def mk(name, outcome, message="", **facts):
    t = report.Test(name, outcome, message)
    report.map_exercised(t, facts, REG)
    return t


def test_argv_to_option_and_device_rows():
    spellings = {"machine": "machine", "M": "machine", "m": "m", "device": "device",
                 "S": "S", "freeze": "S"}
    argv = ["-M", "microvm", "--m=256", "-freeze", "-append", "console=ttyS0 m", "-bogus",
            "-device", "virtio-blk-mmio,drive=d", "--device=driver=pvpanic", "-device", "help"]
    assert report.options_in_argv(argv, spellings) == {"machine", "m", "S", "device"}
    assert report.devices_in_argv(argv, REG["device_aliases"]) == {"virtio-blk-device",
                                                                   "pvpanic"}


def test_row_status_rules():
    tests = [mk("a", "passed", argv=[["-m", "256", "-S"]], commands=["cont", "bogus"],
                  events=["RESUME"]),
             mk("b", "failed", "AssertionError: boom", argv=[["-m", "512"]],
                  commands=["stop"]),
             mk("c", "skipped", "KVM-only test on a host without KVM: no /dev/kvm",
                  declared={"options": ["machine"], "devices": ["virtio-blk-mmio"],
                            "commands": ["nosuch"]}),
             mk("d", "passed", declared={"commands": ["quit"]})]
    rows = {(r["category"], r["name"]): r for r in report.build_rows(REG, tests, False)}
    assert len(rows) == 3 + 2 + 4 + 2             # every registry entry, nothing else
    assert rows[("option", "m")]["status"] == "fail"          # b failed, a passed
    assert rows[("option", "m")]["reason"] == "failed: b"
    assert rows[("command", "stop")]["status"] == "fail"
    assert rows[("command", "cont")]["status"] == "pass"
    assert rows[("option", "S")]["status"] == "pass" and rows[("option", "S")]["tests"] == ["a"]
    assert rows[("event", "RESUME")]["status"] == "pass"
    # declared coverage counts only for a skipped test, and only as n/a
    assert rows[("option", "machine")]["status"] == "n/a"
    assert rows[("option", "machine")]["reason"] == \
        "not applicable on this host: KVM-only test on a host without KVM: no /dev/kvm"
    assert rows[("device", "virtio-blk-device")]["status"] == "n/a"
    # a full run fails a row no test exercised (declared coverage of a test that
    # ran does not count); a subset run reports it not run
    assert rows[("command", "quit")]["status"] == "fail"
    assert rows[("event", "STOP")]["reason"] == "no test exercises it"
    assert report.counts(list(rows.values())) == {"pass": 3, "fail": 6, "n/a": 2}
    subset = report.build_rows(REG, tests, True)
    assert {r["status"] for r in subset} == {"pass", "fail", "n/a"}
    assert [r for r in subset if r["name"] == "quit"][0] == {
        "category": "command", "name": "quit", "status": "n/a", "tests": [],
        "reason": "not run: no test of this subset run exercises it"}
    assert report.counts(subset) == {"pass": 3, "fail": 2, "n/a": 6}


def test_plugin_sees_qmp_traffic():
    rec = plugin.Recorder("/nonexistent/stratus")
    rec.current = "t"
    rec.sent(b'{"execute":"qmp_capabilities"}{"execute": "device_add", "arguments": '
             b'{"driver": "virtio-blk-mmio", "id": "x"}}\n'
             b'{"execute":"blockdev-add","arguments":{"driver":"file"}}')
    rec.sent(b'{"exec-oob":"query-status"}{"execute":"device-list-properties",'
             b'"arguments":{"typename":"pvpanic"}}')
    rec.sent(b'not json {"execute": "stop"')             # malformed input still says stop
    rec.sent(b"{'execute': 'qom-set', 'arguments': {'path': '/machine'}}")  # QEMU's quotes
    rec.sent(b"{'execute': 'device_add', 'arguments': {'driver': 'pvpanic'}}")
    rec.received(b'{"return":{}}\r\n{"event":"STOP","data":{},"timestamp":{}}\r\n')
    rec.spawned(["/usr/bin/stratus", "-m", "256"])
    rec.spawned("stratus-system-x86_64 -S")
    rec.spawned(["qemu-system-x86_64", "-m", "1G"])
    e = rec.dump()["t"]
    assert e["commands"] == ["blockdev-add", "device-list-properties", "device_add",
                             "qmp_capabilities", "qom-set", "query-status", "stop"]
    assert e["types"] == ["pvpanic", "virtio-blk-mmio"]          # not blockdev-add's "file"
    assert e["events"] == ["STOP"]
    assert e["argv"] == [["-m", "256"], ["-S"]]


def test_qtest_qmp_trace(tmp_path):
    """libstqtest's STRATUS_CONFORMANCE_QMP_TRACE lines -> the qtest program's
    commands, device types and events."""
    runner = load_runner()
    trace = tmp_path / "qmp.log"
    trace.write_bytes(b'< {"QMP":{"version":{},"capabilities":["oob"]}}\n'
                      b'> {"execute":"qmp_capabilities"}\n'
                      b'> {"execute": "device_add", "arguments": {"driver": "pvpanic"}}\n'
                      b'< {"return":{}}\n'
                      b'< {"event":"GUEST_PANICKED","data":{}}\n'
                      b'garbage {"execute":"quit"}\n')
    assert runner.qmp_trace_facts(trace) == {
        "commands": ["device_add", "qmp_capabilities"], "events": ["GUEST_PANICKED"],
        "types": ["pvpanic"]}
    assert runner.qmp_trace_facts(tmp_path / "none.log") == {
        "commands": [], "events": [], "types": []}


def test_tap_parsing():
    runner = load_runner()
    cases = runner.parse_tap("1..4\nok 1 /a/b\nnot ok 2 /a/c\nok 3 /a/d # SKIP no kvm\n"
                             "# comment\nBail out! FATAL-ERROR: x\n")
    assert cases == [("/a/b", "passed", "ok 1 /a/b"), ("/a/c", "failed", "not ok 2 /a/c"),
                     ("/a/d", "skipped", "no kvm"),
                     ("bail out", "failed", "Bail out! FATAL-ERROR: x")]


def test_report_files(tmp_path):
    tests = [mk("a", "passed", argv=[["-m", "256"]]),
             mk("b", "failed", "line 1\nAssertionError: <bad> & \"worse\"", commands=["stop"]),
             mk("c", "skipped", "no tun", declared={"options": ["device"]})]
    rows = report.build_rows(REG, tests, False)
    report.write_markdown(tmp_path / "r.md", [("binary", "x")], REG, rows, tests)
    report.write_junit(tmp_path / "r.xml", rows, tests)
    md = (tmp_path / "r.md").read_text()
    assert "| `stop` | FAIL | `b` | failed: b |" in md
    assert "| `-device` | N/A | `c` | not applicable on this host: no tun |" in md
    assert "| `-machine` / `-M` | FAIL |  | no test exercises it |" in md
    assert "- option `machine`: FAIL" in md and "## Failed tests" in md
    assert "| rows | pass | fail | n/a |" in md and "UNTESTED" not in md
    root = ET.parse(tmp_path / "r.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["QMP commands", "QMP events",
                                               "Command-line options", "Device types", "tests"]
    stop = root.find("testsuite/testcase[@name='stop']")
    assert stop.find("properties/property").get("value") == "fail"
    assert stop.find("failure").get("message") == "failed: b"
    assert suites[0].get("failures") == "3"           # stop failed; cont, quit: no test
    dev = root.find("testsuite/testcase[@name='device']")
    assert dev.find("skipped").get("message") == "not applicable on this host: no tun"
    assert root.find("testsuite[@name='tests']/testcase[@name='b']/failure").text.endswith(
        '<bad> & "worse"')
