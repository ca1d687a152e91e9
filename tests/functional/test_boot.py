"""Boot the test guest on Stratus and check what it sees (docs/guest-shell.md)."""

import os
import re
import zlib

import pytest

from stratus_vm import parse_info, PROMPT

MiB = 1 << 20
GiB = 1 << 30
LOW_RAM_MAX = 3 * GiB            # microvm: RAM below 4G is [0, 3G), the rest from 4G
BANNER_RE = re.compile(r"^stratus-testguest version=\S+ entry=(16|32|64)\s*$", re.M)


@pytest.mark.parametrize("console", ["stdio", "socket", "chardev"])
def test_boot_to_prompt(make_vm, console):
    vm = make_vm(console=console)
    vm.launch()
    vm.console.wait_prompt()
    if console == "stdio":
        # nothing is lost on a pipe: the banner must precede the first prompt
        m = BANNER_RE.search(vm.console.transcript.replace("\r", ""))
        assert m, "no banner line before the prompt: %r" % vm.console.transcript[-500:]
        assert vm.console.transcript.replace("\r", "").index(m.group(0)) < \
            vm.console.transcript.replace("\r", "").index(PROMPT)
    r = vm.run("echo booted")
    assert r.ok and r.get("text") == "booted", r
    assert vm.is_running()


def test_banner_on_socket_with_S(make_vm):
    """With -S the console client connects before the guest runs, so the whole
    boot output (banner included) must arrive over the socket."""
    vm = make_vm(freeze=True)
    vm.launch()
    assert vm.qmp.execute("cont") == {"return": {}}
    vm.console.wait_prompt(poke_interval=None)
    assert BANNER_RE.search(vm.console.transcript.replace("\r", "")), vm.console.transcript


def _ram_layout(mem):
    low = min(mem, LOW_RAM_MAX)
    ranges = [(0, low)]
    if mem > LOW_RAM_MAX:
        ranges.append((4 * GiB, 4 * GiB + mem - LOW_RAM_MAX))
    return ranges


@pytest.mark.parametrize("arg,mem", [("128M", 128 * MiB), ("256M", 256 * MiB),
                                     ("512", 512 * MiB), ("1G", GiB), ("4G", 4 * GiB)])
def test_info_memory(make_vm, arg, mem):
    vm = make_vm(mem=arg)
    vm.boot()
    info = vm.info()
    ram = [e for e in info["e820"] if e["type"] == 1]
    assert ram, "no type-1 e820 entry: %r" % info["raw"]
    assert sum(e["size"] for e in ram) == info["mem_total"]
    # the low-memory holes (EBDA/VGA/BIOS area) cost at most a couple of MiB
    assert mem - 2 * MiB <= info["mem_total"] <= mem, \
        "mem_total=%d for -m %s (%d)" % (info["mem_total"], arg, mem)
    layout = _ram_layout(mem)
    for e in ram:
        assert any(lo <= e["base"] and e["base"] + e["size"] <= hi for lo, hi in layout), \
            "e820 RAM entry %r outside the RAM of -m %s" % (e, arg)
    if mem > LOW_RAM_MAX:
        assert any(e["base"] == 4 * GiB for e in ram), "no RAM at 4 GiB: %r" % info["e820"]
    # entries are sorted and do not overlap
    ents = sorted(info["e820"], key=lambda e: e["base"])
    for a, b in zip(ents, ents[1:]):
        assert a["base"] + a["size"] <= b["base"], "overlapping e820: %r %r" % (a, b)
    assert info["ram_free"], "no ram_free range"
    for f in info["ram_free"]:
        assert any(e["base"] <= f["base"] and f["base"] + f["size"] <= e["base"] + e["size"]
                   for e in ram), "ram_free %r not inside RAM" % f


@pytest.mark.parametrize("smp", [1, 2, 4])
def test_info_smp(make_vm, smp):
    vm = make_vm(smp=smp)
    vm.boot()
    info = vm.info()
    assert info["cpus"] == smp
    assert info["online"] == smp, "only %d of %d vCPUs came online" % (info["online"], smp)
    assert len(info["apic_ids"]) == smp
    assert len(set(info["apic_ids"])) == smp


def test_smp_topology_form(make_vm):
    vm = make_vm(smp="cpus=2,maxcpus=2,sockets=1,dies=1,clusters=1,cores=2,threads=1")
    vm.boot()
    info = vm.info()
    assert (info["cpus"], info["online"]) == (2, 2)


def test_append(make_vm):
    text = "console=ttyS0 stratus.test=hello-42 quiet a=b,c"
    vm = make_vm(append=text)
    vm.boot()
    info = vm.info()
    assert text in info["cmdline"], info["cmdline"]


def test_no_initrd(booted_vm):
    info = booted_vm.info()
    assert info["initrd_size"] == 0
    assert info["initrd_crc32"] == 0


@pytest.mark.parametrize("size", [4096 * 3 + 123, 3 * MiB + 17])
def test_initrd(make_vm, tmp_path, size):
    data = os.urandom(size)
    initrd = tmp_path / "initrd.bin"
    initrd.write_bytes(data)
    vm = make_vm(initrd=initrd)
    vm.boot()
    info = vm.info()
    assert info["initrd_size"] == size
    assert info["initrd_crc32"] == zlib.crc32(data), \
        "guest crc32 0x%08x, host 0x%08x" % (info["initrd_crc32"], zlib.crc32(data))


def test_echo(booted_vm):
    for text in ["hello", "hello world  with   spaces", "x=y k=v", "0123456789" * 10]:
        r = booted_vm.run("echo " + text)
        assert r.ok, r
        assert r.get("text") == text, r


def test_help(booted_vm):
    r = booted_vm.run("help")
    assert r.ok, r
    # the whole list, in order (docs/guest-shell.md); `intr` and `smp` are
    # listed everywhere but only run on emu (test_interrupts.py)
    assert r.lines == ["cmd=" + c for c in ("help", "echo", "info", "mem", "irq", "blk",
                                            "intr", "smp", "panic", "balloon", "rng", "net",
                                            "vsock", "vcon", "acpi", "pci", "poweroff", "reboot")], r


def test_unknown_command(booted_vm):
    r = booted_vm.run("no-such-command")
    assert r.status == "error", r
    assert booted_vm.run("echo still-alive").get("text") == "still-alive"


@pytest.mark.parametrize("mem", ["256M", "1G"])
def test_mem_fill_check(make_vm, mem):
    vm = make_vm(mem=mem, smp=2)
    vm.boot()
    info = vm.info()
    free = max(info["ram_free"], key=lambda f: f["size"])
    base = (free["base"] + 7) & ~7
    length = min(free["size"] - (base - free["base"]), 64 * MiB) & ~7
    assert length >= MiB, "largest ram_free range is tiny: %r" % free
    r = vm.run("mem fill 0x%x 0x%x 0x1234" % (base, length), timeout=60)
    assert r.ok and int(r.get("filled"), 0) == length, r
    r = vm.run("mem check 0x%x 0x%x 0x1234" % (base, length), timeout=60)
    assert r.ok, r
    assert int(r.get("checked"), 0) == length and r.get("mismatches") == "0", r
    assert r.get("first_bad") == "none", r
    # a different seed must not match: proves the check really reads memory
    r = vm.run("mem check 0x%x 0x1000 0x4321" % base)
    assert r.status == "error", r
    assert int(r.get("mismatches")) > 0 and r.get("first_bad") != "none", r
    # every other ram_free range: a small fill/check at both ends
    for f in info["ram_free"]:
        if f["size"] < 0x2000:
            continue
        for addr in (f["base"], f["base"] + f["size"] - 0x1000):
            addr &= ~7
            assert vm.run("mem fill 0x%x 0x1000 %d" % (addr, addr)).ok
            r = vm.run("mem check 0x%x 0x1000 %d" % (addr, addr))
            assert r.ok and r.get("mismatches") == "0", r


def test_mem_outside_ram_rejected(booted_vm):
    r = booted_vm.run("mem fill 0xfee00000 0x1000 1")
    assert r.status == "error", r
    assert booted_vm.run("echo ok").ok


def test_vmlinux_boot(make_vm, vmlinux):
    vm = make_vm(kernel=vmlinux, console="stdio", smp=2, append="from=vmlinux")
    vm.boot()
    m = BANNER_RE.search(vm.console.transcript.replace("\r", ""))
    assert m, "no banner: %r" % vm.console.transcript[-500:]
    info = vm.info()
    assert (info["cpus"], info["online"]) == (2, 2)
    assert "from=vmlinux" in info["cmdline"]
