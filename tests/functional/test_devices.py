"""The device model's QOM views agree with the registry and with each other
(src/qmp/qmp-commands-qom.c, src/hw/qom-types.c, src/hw/device-help.c,
docs/qmp.md "QOM", docs/command-line.md "-device help"):

* `stratus -device help` / `-device TYPE,help` (QEMU's text formats, no VM
  needed) list the types and their property tables;
* for every registered type (HMP `info qdm` lists them all), QMP
  `device-list-properties` says the same as `-device TYPE,help`;
* `qom-list-types` lists exactly the registered types, their QOM parents and
  the abstract bases those name;
* `qom-list` / `qom-get` on `-device ...,id=X` (and anonymous and hot-plugged
  devices) show the values given on the command line and the defaults
  otherwise; `info qtree` prints the same values;
* the error paths (unknown typename, unknown path, unknown property) use
  QEMU's texts and classes.
"""

import json
import re
import subprocess

import pytest

from test_cmdline import check_error_exit

# name "virtio-blk-device", bus virtio-bus, alias "virtio-blk-mmio", desc "...", no-user
TYPE_LINE = re.compile(r'^name "(?P<name>[^"]+)", bus (?P<bus>[^,]+)'
                       r'(?P<aliases>(?:, alias "[^"]+")*)'
                       r'(?:, desc "(?P<desc>.*?)")?(?P<nouser>, no-user)?$')
# "  num-queues=<uint16>    - Number of request queues (default: 1)"
PROP_LINE = re.compile(r'^  (?P<name>[^=]+)=<(?P<type>[^>]+)>'
                       r'(?: +- (?P<desc>.*?)(?: \(default: (?P<default>.*)\))?)?$')
# Types that are in the QOM tree without being device or machine classes.
FIXED_TYPES = {"host-x86-cpu", "container"}


def run_help(stratus, *args):
    p = subprocess.run([str(stratus)] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    assert p.returncode == 0 and p.stderr == b"", p
    out = p.stdout.decode()
    assert out.endswith("\n"), out
    return out.splitlines()


def parse_types(lines):
    """-device help / info qdm -> {name: {"bus", "aliases", "desc", "user"}}."""
    types = {}
    for line in lines:
        m = TYPE_LINE.match(line)
        assert m, "not a device line: %r" % line
        types[m["name"]] = {"bus": m["bus"], "desc": m["desc"],
                            "aliases": re.findall(r'alias "([^"]+)"', m["aliases"]),
                            "user": m["nouser"] is None}
    assert list(types) == sorted(types, key=str.lower), "not sorted by name"
    return types


def device_help(stratus, typename, printed=None):
    """-device TYPE,help -> [(name, type, description or None, default text or None)].
    `printed`: the name the header shows (the type's own name for an alias)."""
    printed = printed or typename
    lines = run_help(stratus, "-device", typename + ",help")
    if lines == ["There are no options for %s." % printed]:
        return []
    assert lines[0] == "%s options:" % printed, lines
    assert lines[1:] == sorted(lines[1:]), "property lines not sorted"
    props = []
    for line in lines[1:]:
        m = PROP_LINE.match(line)
        assert m, "not a property line: %r" % line
        # QEMU's object_property_help(): the dash in column 24 when the name is short
        if m["desc"] is not None and len("  %s=<%s>" % (m["name"], m["type"])) < 24:
            assert line.index(" - ") == 24, line
        props.append((m["name"], m["type"], m["desc"] or None, m["default"]))
    return props


def qmp_props(vm, typename):
    """device-list-properties in the same tuple form as device_help()."""
    out = []
    for p in vm.qmp.cmd("device-list-properties", typename=typename):
        assert set(p) <= {"name", "type", "description", "default-value"}, p
        default = p.get("default-value", None)
        out.append((p["name"], p["type"], p.get("description"),
                    None if "default-value" not in p
                    else json.dumps(default, separators=(",", ":"))))
    return out


def hmp(vm, line):
    return vm.qmp.cmd("human-monitor-command", **{"command-line": line})


def all_types(vm):
    """Every registered device type, from HMP `info qdm`."""
    text = hmp(vm, "info qdm")
    assert text.endswith("\r\n"), text
    return parse_types(text[:-2].split("\r\n"))


def launched(make_vm, *extra):
    """A VM whose QOM tree is built (the guest need not have booted)."""
    vm = make_vm(extra_args=list(extra))
    vm.launch()
    return vm


def zero_of(prop_type):
    """What a property without a default reads as (device state is zeroed)."""
    return {"str": "", "bool": False}.get(prop_type, 0)


# Properties QEMU lists without a default though they have one (bootindex is a QOM
# property added outside qdev's tables): what qom-get reads when not given.
UNLISTED_DEFAULTS = {"bootindex": -1}


def typed(prop_type, text):
    """A -device value as qom-get returns it."""
    if prop_type == "str":
        return text
    if prop_type == "bool":
        return text in ("on", "yes", "true")
    return int(text, 0)


# ---------------------------------------------------------------------------
# -device help (no VM)

def test_device_help_lists_user_creatable_types(stratus):
    types = parse_types(run_help(stratus, "-device", "help"))
    assert run_help(stratus, "-device", "?") == run_help(stratus, "-device", "help")
    assert types, "no device types"
    assert all(t["user"] for t in types.values()), types
    # the types issue 9 names, with QEMU's bus names
    assert types["virtio-blk-device"]["bus"] == "virtio-bus"
    assert "virtio-blk-mmio" in types["virtio-blk-device"]["aliases"]
    assert types["pvpanic"]["bus"] == "ISA"
    # help is answered before anything else is checked: no -qmp, no kernel
    assert run_help(stratus, "--device=help") == run_help(stratus, "-device", "help")


def test_device_type_help(stratus):
    for name, info in parse_types(run_help(stratus, "-device", "help")).items():
        props = device_help(stratus, name)
        for alias in info["aliases"]:
            # an alias prints the type's own name, as QEMU does
            assert device_help(stratus, alias, printed=name) == props
    pv = {p[0]: p for p in device_help(stratus, "pvpanic")}
    assert pv["ioport"][1:] == ("uint16", None, "1285"), pv
    assert pv["events"][1:] == ("uint8", None, "3"), pv


@pytest.mark.parametrize("arg,words", [
    ("nope,help", ["Device 'nope' not found"]),
    ("device,help", ["Parameter 'typename' expects a non-abstract device type"]),
    ("microvm-machine,help", ["Parameter 'typename' expects a non-abstract device type"]),
])
def test_device_help_errors(stratus, arg, words):
    check_error_exit([str(stratus), "-device", arg], words)


# ---------------------------------------------------------------------------
# The registry over QMP

def test_device_list_properties_matches_its_table(make_vm, stratus):
    vm = launched(make_vm)
    types = all_types(vm)
    user = parse_types(run_help(stratus, "-device", "help"))
    assert user == {n: t for n, t in types.items() if t["user"]}
    for name in types:
        # -device help sorts what device-list-properties gives in table order
        assert sorted(qmp_props(vm, name)) == device_help(stratus, name), name
        assert vm.qmp.cmd("qom-list-properties", typename=name) == \
            vm.qmp.cmd("device-list-properties", typename=name), name
        for alias in types[name]["aliases"]:
            assert qmp_props(vm, alias) == qmp_props(vm, name)


def test_qom_list_types_is_the_registry(make_vm):
    vm = launched(make_vm)
    devices = set(all_types(vm))
    concrete = vm.qmp.cmd("qom-list-types")
    names = [t["name"] for t in concrete]
    assert len(names) == len(set(names)), names
    assert all("abstract" not in t for t in concrete), concrete
    machines = {t["name"] for t in vm.qmp.cmd("qom-list-types", implements="machine")}
    assert vm.qmp.cmd("qom-get", path="/machine", property="type") in machines
    assert set(names) == devices | machines | FIXED_TYPES
    # the abstract bases: listed only on request, and exactly those named as parents
    everything = vm.qmp.cmd("qom-list-types", abstract=True)
    by_name = {t["name"]: t for t in everything}
    abstract = {n for n, t in by_name.items() if t.get("abstract")}
    assert set(by_name) - abstract == set(names)
    assert all(by_name[n].get("abstract") is True for n in abstract)
    parents = {t["parent"] for t in everything if "parent" in t}
    assert abstract == parents - set(names), (abstract, parents)
    assert [n for n, t in by_name.items() if "parent" not in t] == ["object"]
    for t in everything:                     # every chain ends at "object"
        n, seen = t["name"], 0
        while n != "object":
            n = by_name[n]["parent"]
            seen += 1
            assert seen < 16, t
    assert "device" in abstract and "machine" in abstract
    # libqtest's qtest_has_device() question
    has_device = vm.qmp.cmd("qom-list-types", implements="device", abstract=False)
    assert {t["name"] for t in has_device} == devices | {"host-x86-cpu"}
    # a type implements itself; unknown names and aliases implement nothing
    assert vm.qmp.cmd("qom-list-types", implements="pvpanic") == \
        [{"name": "pvpanic", "parent": "isa-device"}]
    assert vm.qmp.cmd("qom-list-types", implements="usb-hid") == []
    assert vm.qmp.cmd("qom-list-types", implements="virtio-blk-mmio") == []


# ---------------------------------------------------------------------------
# The machine's tree

def check_device(vm, path, typename, given=None):
    """qom-list and qom-get on one device: its class's properties, with the
    given command-line values and the defaults otherwise (given=None: a board
    device, whose values the board chose; only their JSON types are checked)."""
    table = vm.qmp.cmd("device-list-properties", typename=typename)
    assert vm.qmp.cmd("qom-list", path=path) == \
        [{"name": "type", "type": "string"}] + \
        [{"name": p["name"], "type": p["type"]} for p in table]
    assert vm.qmp.cmd("qom-get", path=path, property="type") == typename
    for p in table:
        got = vm.qmp.cmd("qom-get", path=path, property=p["name"])
        if given is None:
            assert type(got) is type(zero_of(p["type"])), (path, p, got)
            continue
        want = typed(p["type"], given[p["name"]]) if p["name"] in given \
            else p.get("default-value", UNLISTED_DEFAULTS.get(p["name"], zero_of(p["type"])))
        assert got == want, (path, p)


def test_qom_tree_of_command_line_devices(make_vm, tmp_path):
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm = launched(make_vm,
                  "-device", "pvpanic,id=pp,events=1",
                  "-device", "pvpanic,ioport=0x506",
                  "-drive", "id=d0,file=%s" % img,
                  "-device", "virtio-blk-device,drive=d0,id=disk0,serial=abc123")
    q = vm.qmp
    assert q.cmd("qom-list", path="/machine/peripheral") == [
        {"name": "type", "type": "string"},
        {"name": "pp", "type": "child<pvpanic>"},
        {"name": "disk0", "type": "child<virtio-blk-device>"}]
    assert q.cmd("qom-list", path="/machine/peripheral-anon") == [
        {"name": "type", "type": "string"},
        {"name": "device[0]", "type": "child<pvpanic>"}]
    check_device(vm, "/machine/peripheral/pp", "pvpanic", {"events": "1"})
    check_device(vm, "/machine/peripheral-anon/device[0]", "pvpanic", {"ioport": "0x506"})
    check_device(vm, "/machine/peripheral/disk0", "virtio-blk-device",
                 {"drive": "d0", "serial": "abc123"})
    # a unique suffix is enough (QEMU's partial paths)
    assert q.cmd("qom-get", path="pp", property="events") == 1
    assert q.cmd("qom-get", path="peripheral/disk0", property="serial") == "abc123"
    # child<> properties read as the child's path
    assert q.cmd("qom-get", path="/machine/peripheral", property="pp") == \
        "/machine/peripheral/pp"
    # /machine/unattached: the vCPU first, then the board's devices
    unattached = q.cmd("qom-list", path="/machine/unattached")
    assert unattached[:2] == [{"name": "type", "type": "string"},
                              {"name": "device[0]", "type": "child<host-x86-cpu>"}]
    board = all_types(vm)
    for child in unattached[2:]:
        typename = re.fullmatch(r"child<(.+)>", child["type"])[1]
        assert typename in board, child
        check_device(vm, "/machine/unattached/" + child["name"], typename)
    # info qtree prints the same values, QEMU's way
    qtree = hmp(vm, "info qtree")
    assert qtree.startswith("bus: main-system-bus\r\n  type System\r\n"), qtree
    assert '  dev: pvpanic, id "pp"\r\n    ioport = 1285 (0x505)\r\n' \
           '    events = 1 (0x1)\r\n' in qtree, qtree
    assert '  dev: pvpanic, id ""\r\n    ioport = 1286 (0x506)\r\n' \
           '    events = 3 (0x3)\r\n' in qtree, qtree
    assert '  dev: virtio-blk-device, id "disk0"\r\n' in qtree, qtree
    assert '    drive = "d0"\r\n' in qtree and '    serial = "abc123"\r\n' in qtree, qtree


def test_qom_follows_hotplug(make_vm, tmp_path):
    img = tmp_path / "hot.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm = launched(make_vm)
    q = vm.qmp
    q.cmd("blockdev-add", **{"node-name": "hd1",
                             "file": {"driver": "file", "filename": str(img)}})
    q.cmd("device_add", id="hd1", driver="virtio-blk-mmio", serial="hot1")
    check_device(vm, "/machine/peripheral/hd1", "virtio-blk-device",
                 {"drive": "hd1", "serial": "hot1"})
    q.cmd("device_del", id="hd1")
    assert q.execute("qom-get", {"path": "hd1", "property": "type"}) == {
        "error": {"class": "DeviceNotFound", "desc": "Device 'hd1' not found"}}
    assert q.cmd("qom-list", path="/machine/peripheral") == \
        [{"name": "type", "type": "string"}]


def test_device_del_of_an_anonymous_device(make_vm, tmp_path):
    """A -device without id is removed by its QOM path; DEVICE_DELETED then
    carries that path and no "device" (QEMU's shape for id-less devices),
    never null members."""
    img = tmp_path / "anon.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm = launched(make_vm, "-drive", "id=d0,file=%s" % img,
                  "-device", "virtio-blk-device,drive=d0")
    q = vm.qmp
    path = "/machine/peripheral-anon/device[0]"
    assert q.cmd("device_del", id=path) == {}
    assert q.wait_event("DEVICE_DELETED")["data"] == {"path": path}
    assert q.cmd("qom-list", path="/machine/peripheral-anon") == \
        [{"name": "type", "type": "string"}]
    assert q.cmd("query-block") == []
    assert q.cmd("blockdev-del", **{"node-name": "d0"}) == {}
    # the slot and the image are free again
    q.cmd("blockdev-add", **{"node-name": "d0",
                             "file": {"driver": "file", "filename": str(img)}})
    assert q.cmd("device_add", id="d0", driver="virtio-blk-mmio") == {}
    assert [b["qdev"] for b in q.cmd("query-block")] == ["d0"]


QOM_ERRORS = [
    ("device-list-properties", {"typename": "nope"},
     "DeviceNotFound", "Device 'nope' not found"),
    ("device-list-properties", {"typename": "device"},
     "GenericError", "Parameter 'typename' expects a non-abstract device type"),
    ("device-list-properties", {"typename": "microvm-machine"},
     "GenericError", "Parameter 'typename' expects a non-abstract device type"),
    ("device-list-properties", {},
     "GenericError", "Parameter 'typename' is missing"),
    ("qom-list-properties", {"typename": "nope"},
     "DeviceNotFound", "Class 'nope' not found"),
    ("qom-list", {"path": "/machine/peripheral/nope"},
     "DeviceNotFound", "Device '/machine/peripheral/nope' not found"),
    ("qom-get", {"path": "/nonexist", "property": "type"},
     "DeviceNotFound", "Device '/nonexist' not found"),
    ("qom-get", {"path": "pp", "property": "nope"},
     "GenericError", "Property 'pvpanic.nope' not found"),
    ("qom-get", {"path": "/machine", "property": "nope"},
     "GenericError", "Property 'microvm-machine.nope' not found"),
    # device[0] is the vCPU and the anonymous pvpanic
    ("qom-list", {"path": "device[0]"},
     "GenericError", "Path 'device[0]' is ambiguous"),
    ("qom-get", {"path": "device[0]", "property": "type"},
     "DeviceNotFound", "Device 'device[0]' not found"),
]


def test_qom_errors(make_vm):
    vm = launched(make_vm, "-device", "pvpanic,id=pp", "-device", "pvpanic,ioport=0x506")
    for cmd, args, cls, desc in QOM_ERRORS:
        assert vm.qmp.execute(cmd, args) == {"error": {"class": cls, "desc": desc}}, \
            (cmd, args)
    # query-commands and query-qmp-schema (both made from the table) advertise them
    names = {c["name"] for c in vm.qmp.cmd("query-commands")}
    schema = {c["name"] for c in vm.qmp.cmd("query-qmp-schema")
              if c.get("meta-type") == "command"}
    assert {"device-list-properties", "qom-list-properties"} <= names & schema
