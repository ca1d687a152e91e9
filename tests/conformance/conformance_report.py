"""Rows and report files of stratus-conformance (docs/conformance.md).

A row is one QMP command, QMP event, command-line option or device type of the
binary under test (conformance_registry).  Each row gets the tests that
exercised it (conformance_plugin's observations, the qtest programs' command
lines) and from their outcomes a status:

  fail      a test that exercised it failed
  pass      at least one exercising test passed and none failed
  n/a       every exercising test was skipped: not applicable on this host
            (the reason is the skip reason, e.g. KVM-only where /dev/kvm is not usable);
            or, in a subset run (--only), no selected test exercised it
  fail      also: in a full run, no test exercised it ("no test exercises it"),
            so a row the suite forgot fails the run instead of passing quietly
"""

import datetime
import xml.etree.ElementTree as ET

CATEGORIES = [("command", "QMP commands"), ("event", "QMP events"),
              ("option", "Command-line options"), ("device", "Device types")]
STATUSES = ("pass", "fail", "n/a")
NOT_SELECTED = "not run: no test of this subset run exercises it"
NO_TEST = "no test exercises it"
SHOWN_TESTS = 3


class Test:
    """One test: a pytest node or a qtest program (and its TAP cases)."""

    def __init__(self, name, outcome, message="", duration=0.0, cases=None):
        self.name = name
        self.outcome = outcome            # passed | failed | skipped
        self.message = message
        self.duration = duration
        self.cases = cases or []          # qtest: [(name, outcome, message)]
        self.exercised = {c: set() for c, _ in CATEGORIES}


def options_in_argv(argv, spellings):
    """Canonical option names used in an argv (without argv[0]); spellings maps
    every spelling (name and alias) to the canonical name."""
    used = set()
    for tok in argv:
        if not tok.startswith("-") or tok == "-":
            continue
        name = tok.lstrip("-").split("=", 1)[0]
        if name in spellings:
            used.add(spellings[name])
    return used


def devices_in_argv(argv, aliases):
    """Device types named by -device/--device in an argv."""
    found = set()
    for i, tok in enumerate(argv):
        name = tok.lstrip("-")
        value = None
        if tok.startswith("-") and name == "device" and i + 1 < len(argv):
            value = argv[i + 1]
        elif tok.startswith("--device="):
            value = tok.split("=", 1)[1]
        if value is None:
            continue
        first = value.split(",", 1)[0]
        if first.startswith("driver="):
            first = first[len("driver="):]
        if first and first != "help":
            found.add(aliases.get(first, first))
    return found


def map_exercised(test, facts, reg):
    """Fill test.exercised from the plugin's facts (argv lists, commands, events,
    types), keeping only names the registries know."""
    spellings = {}
    for o in reg["options"]:
        spellings[o["name"]] = o["name"]
        if o["alias"]:
            spellings[o["alias"]] = o["name"]
    aliases = reg["device_aliases"]
    for argv in facts.get("argv", []):
        test.exercised["option"] |= options_in_argv(argv, spellings)
        test.exercised["device"] |= devices_in_argv(argv, aliases)
    test.exercised["command"] |= set(facts.get("commands", []))
    test.exercised["event"] |= set(facts.get("events", []))
    types = {aliases.get(t, t) for t in facts.get("types", [])}
    test.exercised["device"] |= types
    if test.outcome == "skipped":      # declared coverage: the rows become n/a
        declared = facts.get("declared", {})
        for cat in ("command", "event", "option", "device"):
            test.exercised[cat] |= {aliases.get(n, n) if cat == "device" else n
                                    for n in declared.get(cat + "s", [])}
    for cat in ("command", "event", "option", "device"):
        test.exercised[cat] &= set(row_names(reg, cat))


def row_names(reg, category):
    if category == "option":
        return [o["name"] for o in reg["options"]]
    return list(reg[{"command": "commands", "event": "events", "device": "devices"}[category]])


def _names(tests):
    names = [t.name for t in tests]
    more = len(names) - SHOWN_TESTS
    return ", ".join(names[:SHOWN_TESTS]) + (" and %d more" % more if more > 0 else "")


def build_rows(reg, tests, subset):
    """[{category, name, status, tests, reason}] for every registry entry."""
    rows = []
    for cat, _ in CATEGORIES:
        for name in row_names(reg, cat):
            by = [t for t in tests if name in t.exercised[cat]]
            failed = [t for t in by if t.outcome == "failed"]
            passed = [t for t in by if t.outcome == "passed"]
            if failed:
                status, reason = "fail", "failed: " + _names(failed)
            elif passed:
                status, reason = "pass", "%d test(s) passed" % len(passed)
            elif by:
                why = sorted({t.message.splitlines()[0] if t.message else "skipped"
                              for t in by})
                status, reason = "n/a", "not applicable on this host: " + "; ".join(why)
            elif subset:
                status, reason = "n/a", NOT_SELECTED
            else:
                status, reason = "fail", NO_TEST
            rows.append({"category": cat, "name": name, "status": status,
                         "tests": [t.name for t in by], "reason": reason})
    return rows


def counts(rows, category=None):
    c = {s: 0 for s in STATUSES}
    for r in rows:
        if category is None or r["category"] == category:
            c[r["status"]] += 1
    return c


def _md_cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def _md_option(reg, name):
    o = next(o for o in reg["options"] if o["name"] == name)
    return "`-%s`" % name + (" / `-%s`" % o["alias"] if o["alias"] else "")


def write_markdown(path, meta, reg, rows, tests):
    L = ["# Stratus conformance report", ""]
    for k, v in meta:
        L.append("- **%s**: %s" % (k, v))
    L += ["", "| rows | pass | fail | n/a |", "|---|---|---|---|"]
    for cat, title in CATEGORIES:
        c = counts(rows, cat)
        L.append("| %s | %d | %d | %d |" % (title, c["pass"], c["fail"], c["n/a"]))
    t = counts(rows)
    L.append("| **all** | %d | %d | %d |" % (t["pass"], t["fail"], t["n/a"]))
    n = {o: sum(1 for x in tests if x.outcome == o) for o in ("passed", "failed", "skipped")}
    L += ["", "Tests: %d passed, %d failed, %d skipped." % (n["passed"], n["failed"],
                                                            n["skipped"]), ""]
    failed = [x for x in tests if x.outcome == "failed"]
    if failed:
        L += ["## Failed tests", ""]
        for x in failed:
            first = x.message.strip().splitlines()[-1:] or [""]
            L.append("- `%s`: %s" % (x.name, _md_cell(first[0])[:300]))
        L.append("")
    for cat, title in CATEGORIES:
        L += ["## %s" % title, "", "| %s | status | tests | reason |" % cat, "|---|---|---|---|"]
        for r in (r for r in rows if r["category"] == cat):
            label = _md_option(reg, r["name"]) if cat == "option" else "`%s`" % r["name"]
            shown = ", ".join("`%s`" % n for n in r["tests"][:SHOWN_TESTS])
            if len(r["tests"]) > SHOWN_TESTS:
                shown += " +%d" % (len(r["tests"]) - SHOWN_TESTS)
            L.append("| %s | %s | %s | %s |" % (label, r["status"].upper(), shown,
                                                 _md_cell(r["reason"])))
        L.append("")
    unexercised = [r for r in rows if r["reason"] in (NO_TEST, NOT_SELECTED)]
    L += ["## Rows no test exercised (%d)" % len(unexercised), ""]
    L += ["- %s `%s`: %s" % (r["category"], r["name"], r["status"].upper())
          for r in unexercised] or ["none"]
    L += ["", "## Skipped tests", ""]
    skipped = [x for x in tests if x.outcome == "skipped"]
    L += ["- `%s`: %s" % (x.name, _md_cell(x.message)) for x in skipped] or ["none"]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def _case(parent, classname, name, status, message, body="", time=0.0, row=False):
    tc = ET.SubElement(parent, "testcase", classname=classname, name=name,
                       time="%.3f" % time)
    if row:      # the row's own status, as n/a rows and skipped tests are both <skipped>
        ET.SubElement(ET.SubElement(tc, "properties"), "property", name="status", value=status)
    if status == "fail":
        ET.SubElement(tc, "failure", message=message[:1000]).text = body or message
    elif status in ("n/a", "skipped"):
        ET.SubElement(tc, "skipped", message=message[:1000])


def write_junit(path, rows, tests):
    root = ET.Element("testsuites", name="stratus-conformance")
    for cat, title in CATEGORIES:
        mine = [r for r in rows if r["category"] == cat]
        c = counts(mine)
        suite = ET.SubElement(root, "testsuite", name=title, tests=str(len(mine)),
                              failures=str(c["fail"]), errors="0",
                              skipped=str(c["n/a"]))
        for r in mine:
            _case(suite, "conformance." + cat, r["name"], r["status"], r["reason"],
                  body="exercised by: " + ", ".join(r["tests"]), row=True)
    suite = ET.SubElement(root, "testsuite", name="tests", tests=str(len(tests)),
                          failures=str(sum(t.outcome == "failed" for t in tests)),
                          errors="0", skipped=str(sum(t.outcome == "skipped" for t in tests)))
    for t in tests:
        status = {"passed": "pass", "failed": "fail", "skipped": "skipped"}[t.outcome]
        _case(suite, "tests", t.name, status, (t.message.strip().splitlines() or [""])[-1],
              body=t.message, time=t.duration)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def timestamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

