"""Command-line handling: every bad option exits 1 with exactly one
`stratus: error: ...` line on stderr naming the option; -version/-help; -D log;
choosing the accelerator (-accel, -machine accel=, -enable-kvm, tcg = emu).

The error table needs no guest CPU: options rejected by the parser never get to
an accelerator, and the cases that get past it (kernel and initrd loading) run
once with -accel emu, which every host has."""

import os
import re
import subprocess
import time

import pytest

from conftest import kvm_usable
from stratus_vm import Vm, short_tmpdir

ERROR_TIMEOUT = 10


@pytest.fixture
def files(tmp_path, bzimage):
    """Paths used by the error table."""
    # Any file that is not a bzImage is a raw vmlinux.bin to the loader (as in
    # StratoVirt), so "garbage" here means what a loader can detect: too small
    # to be a kernel, a truncated bzImage, a bzImage without a 64-bit entry.
    garbage = tmp_path / "garbage-kernel"
    garbage.write_bytes(b"this is not a kernel\n" * 20)
    image = bzimage.read_bytes()
    truncated = tmp_path / "truncated-bzimage"
    truncated.write_bytes(image[:2048])
    no64 = bytearray(image)
    assert no64[0x202:0x206] == b"HdrS" and no64[0x206] | no64[0x207] << 8 >= 0x20c
    no64[0x236] &= ~1                      # xloadflags: clear XLF_KERNEL_64
    no64_path = tmp_path / "bzimage-no-64bit"
    no64_path.write_bytes(bytes(no64))
    empty = tmp_path / "empty-kernel"
    empty.write_bytes(b"")
    big = tmp_path / "big-initrd"
    with open(big, "wb") as f:            # sparse: larger than -m 128M of RAM
        f.truncate(200 << 20)
    small = tmp_path / "initrd"
    small.write_bytes(b"initrd" * 100)
    return {"KERNEL": str(bzimage), "GARBAGE": str(garbage), "EMPTY": str(empty),
            "TRUNCATED": str(truncated), "NO64": str(no64_path),
            "BIGINITRD": str(big), "INITRD": str(small),
            "MISSING": str(tmp_path / "does-not-exist"), "TMP": str(tmp_path)}


def base_opts():
    """Ordered option -> list of values (None = flag) of a valid command line."""
    return {"-machine": ["microvm"], "-m": ["256M"], "-smp": ["1"],
            "-kernel": ["{KERNEL}"], "-qmp": ["unix:{SOCK}/qmp.sock,server,nowait"],
            "-serial": ["socket,path={SOCK}/con.sock,server,nowait"]}


def argv_of(opts, tail, subst):
    a = []
    for k, vals in opts.items():
        for v in vals:
            a.append(k)
            if v is not None:
                a.append(v.format(**subst))
    return a + [t.format(**subst) for t in tail]


# (id, {option: replacement values or None to drop it}, extra tail args, words one of
#  which the error line must contain (case-insensitive), loads: the error comes after
#  the parser, when the machine is built and the kernel/initrd loaded, so the case
#  runs with -accel emu (available on every host) appended)
CASES = [
    ("unknown-option", {}, ["-bogus-option"], ["-bogus-option"], False),
    ("unknown-double-dash", {}, ["--no-such-thing"], ["no-such-thing"], False),
    ("unknown-positional", {}, ["stray-word"], ["stray-word"], False),
    ("missing-value-m", {"-m": None}, ["-m"], ["-m"], False),
    ("missing-value-smp", {"-smp": None}, ["-smp"], ["-smp"], False),
    ("missing-value-kernel", {"-kernel": None}, ["-kernel"], ["-kernel"], False),
    ("missing-value-qmp", {"-qmp": None}, ["-qmp"], ["-qmp"], False),
    ("missing-value-serial", {"-serial": None}, ["-serial"], ["-serial"], False),
    ("missing-value-initrd", {}, ["-initrd"], ["-initrd"], False),
    ("missing-value-append", {}, ["-append"], ["-append"], False),
    ("missing-value-machine", {"-machine": None}, ["-machine"], ["-machine"], False),
    ("missing-value-chardev", {}, ["-chardev"], ["-chardev"], False),
    ("missing-value-pidfile", {}, ["-daemonize", "-pidfile"], ["-pidfile"], False),
    ("mem-64M", {"-m": ["64M"]}, [], ["-m", "memory"], False),
    ("mem-127M", {"-m": ["127M"]}, [], ["-m", "memory"], False),
    ("mem-600G", {"-m": ["600G"]}, [], ["-m", "memory"], False),
    ("mem-junk", {"-m": ["junk"]}, [], ["-m", "memory"], False),
    ("mem-zero", {"-m": ["0"]}, [], ["-m", "memory"], False),
    ("mem-bad-suffix", {"-m": ["256X"]}, [], ["-m", "memory"], False),
    ("smp-0", {"-smp": ["0"]}, [], ["-smp", "cpu"], False),
    ("smp-255", {"-smp": ["255"]}, [], ["-smp", "cpu"], False),
    ("smp-junk", {"-smp": ["two"]}, [], ["-smp", "cpu"], False),
    ("smp-maxcpus-lt-cpus", {"-smp": ["cpus=4,maxcpus=2"]}, [], ["-smp", "maxcpus", "cpu"],
     False),
    ("smp-bad-product", {"-smp": ["cpus=2,maxcpus=4,sockets=3,cores=1,threads=1"]}, [],
     ["-smp", "sockets", "cpu"], False),
    ("smp-unknown-key", {"-smp": ["cpus=2,bogus=1"]}, [], ["-smp", "bogus"], False),
    ("pidfile-without-daemonize", {}, ["-pidfile", "{TMP}/x.pid"], ["-pidfile", "daemonize"],
     False),
    ("no-kernel", {"-kernel": None}, [], ["-kernel", "kernel"], False),
    ("kernel-missing-file", {"-kernel": ["{MISSING}"]}, [], ["-kernel", "kernel"], True),
    ("kernel-garbage", {"-kernel": ["{GARBAGE}"]}, [], ["-kernel", "kernel"], True),
    ("kernel-empty", {"-kernel": ["{EMPTY}"]}, [], ["-kernel", "kernel"], True),
    ("kernel-truncated-bzimage", {"-kernel": ["{TRUNCATED}"]}, [], ["-kernel", "kernel"], True),
    ("kernel-bzimage-without-64bit-entry", {"-kernel": ["{NO64}"]}, [], ["-kernel", "kernel"],
     True),
    ("kernel-is-directory", {"-kernel": ["{TMP}"]}, [], ["-kernel", "kernel"], True),
    ("initrd-missing-file", {}, ["-initrd", "{MISSING}"], ["-initrd", "initrd"], True),
    ("initrd-larger-than-ram", {"-m": ["128M"]}, ["-initrd", "{BIGINITRD}"],
     ["-initrd", "initrd"], True),
    ("duplicate-m", {"-m": ["256M", "512M"]}, [], ["-m"], False),
    ("duplicate-kernel", {"-kernel": ["{KERNEL}", "{KERNEL}"]}, [], ["-kernel"], False),
    ("duplicate-smp", {"-smp": ["1", "2"]}, [], ["-smp"], False),
    ("duplicate-serial", {"-serial": ["socket,path={SOCK}/c1,server,nowait",
                                      "socket,path={SOCK}/c2,server,nowait"]}, [],
     ["-serial"], False),
    ("machine-bad-type", {"-machine": ["pc-i440fx-9.9"]}, [], ["-machine", "pc-i440fx-9.9"],
     False),
    ("machine-bad-type-key", {"-machine": ["type=nosuch"]}, [], ["-machine", "nosuch"], False),
    ("machine-unknown-prop", {"-machine": ["microvm,bogus=on"]}, [], ["-machine", "bogus"],
     False),
    ("machine-bad-bool", {"-machine": ["microvm,dump-guest-core=maybe"]}, [],
     ["-machine", "dump-guest-core"], False),
    ("machine-bad-accel", {"-machine": ["microvm,accel=xen"]}, [], ["accel", "xen"], False),
    ("accel-bad", {}, ["-accel", "hvf"], ["-accel", "hvf"], False),
    ("accel-bogus", {}, ["-accel", "bogus"], ["-accel", "bogus"], False),
    ("accel-list-bogus", {}, ["-accel", "kvm:bogus"], ["-accel", "bogus"], False),
    ("accel-list-empty-name", {}, ["-accel", "kvm:"], ["-accel"], False),
    ("machine-accel-bogus", {"-machine": ["microvm,accel=bogus"]}, [], ["accel", "bogus"],
     False),
    ("serial-bad-backend", {"-serial": ["bogus"]}, [], ["-serial", "bogus"], False),
    ("serial-socket-no-path", {"-serial": ["socket,server,nowait"]}, [], ["-serial", "path"],
     False),
    ("serial-unknown-chardev", {"-serial": ["chardev:nosuch"]}, [], ["-serial", "nosuch"],
     False),
    ("serial-stdio-with-daemonize", {"-serial": ["stdio"]}, ["-daemonize"],
     ["-serial", "stdio", "daemonize"], False),
    ("chardev-bad-backend", {}, ["-chardev", "bogus,id=c0"], ["-chardev", "bogus"], False),
    ("chardev-no-id", {}, ["-chardev", "socket,path={SOCK}/x.sock,server,nowait"],
     ["-chardev", "id"], False),
    ("chardev-socket-no-path", {}, ["-chardev", "socket,id=c0,server,nowait"],
     ["-chardev", "path", "port"], False),
    ("chardev-duplicate-id", {}, ["-chardev", "socket,id=c0,path={SOCK}/a,server,nowait",
                                  "-chardev", "socket,id=c0,path={SOCK}/b,server,nowait"],
     ["-chardev", "c0"], False),
    ("chardev-unknown-prop", {}, ["-chardev", "file,id=c0,path={TMP}/f,bogus=1"],
     ["-chardev", "bogus"], False),
    ("no-qmp", {"-qmp": None}, [], ["-qmp", "-mon"], False),
    ("qmp-bad-uri", {"-qmp": ["bogus:/tmp/x,server,nowait"]}, [], ["-qmp", "bogus"], False),
    ("qmp-server-without-nowait", {"-qmp": ["unix:{SOCK}/q.sock,server"]}, [],
     ["-qmp", "server", "nowait"], False),
    # without server, -qmp connects out (QEMU): nobody listens there
    ("qmp-client-nothing-listening", {"-qmp": ["unix:{SOCK}/q.sock"]}, [],
     ["-qmp unix:", "Failed to connect"], True),
    ("qmp-client-with-nowait", {"-qmp": ["unix:{SOCK}/q.sock,nowait"]}, [],
     ["-qmp", "client connect mode"], False),
    ("qmp-bad-rate-limit", {"-qmp": ["unix:{SOCK}/q.sock,server,nowait,rate-limit=0"]}, [],
     ["-qmp", "rate-limit"], False),
    ("mon-bad-rate-limit", {"-qmp": None},
     ["-chardev", "socket,id=m0,path={SOCK}/m,server,nowait",
      "-mon", "chardev=m0,rate-limit=fast"], ["-mon", "rate-limit"], False),
    ("chardev-null-with-path", {}, ["-chardev", "null,id=n0,path=/x"], ["-chardev", "path"],
     False),
    ("mon-unknown-chardev", {"-qmp": None}, ["-mon", "chardev=nosuch,mode=control"],
     ["-mon", "nosuch"], False),
    ("mon-bad-mode", {"-qmp": None}, ["-chardev", "socket,id=m0,path={SOCK}/m,server,nowait",
                                      "-mon", "chardev=m0,mode=readline"],
     ["-mon", "mode"], False),
]


@pytest.mark.parametrize("case_id,change,tail,words,loads", CASES,
                         ids=[c[0] for c in CASES])
def test_bad_option(stratus, files, case_id, change, tail, words, loads):
    if loads:
        tail = list(tail) + ["-accel", "emu"]
    sock = short_tmpdir()
    try:
        opts = base_opts()
        for k, v in change.items():
            if v is None:
                opts.pop(k, None)
            else:
                opts[k] = v
        subst = dict(files, SOCK=sock)
        argv = [str(stratus)] + argv_of(opts, tail, subst)
        check_error_exit(argv, words)
    finally:
        import shutil
        shutil.rmtree(sock, ignore_errors=True)


def check_error_exit(argv, words):
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=ERROR_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail("still running after %ds (the bad option was accepted?)\n%s\nstderr: %s"
                    % (ERROR_TIMEOUT, " ".join(argv), (e.stderr or b"").decode(errors="replace")))
    stderr = p.stderr.decode(errors="replace")
    ctx = "command: %s\nexit: %s\nstderr:\n%s" % (" ".join(argv), p.returncode, stderr)
    assert p.returncode >= 0, "killed by signal %d (crash)\n%s" % (-p.returncode, ctx)
    assert p.returncode == 1, "expected exit status 1\n" + ctx
    lines = [l for l in stderr.replace("\r\n", "\n").split("\n") if l != ""]
    assert len(lines) == 1, "expected exactly one stderr line\n" + ctx
    assert lines[0].startswith("stratus: error: "), ctx
    assert stderr.endswith("\n"), "error line not newline-terminated\n" + ctx
    low = lines[0].lower()
    assert any(w.lower() in low for w in words), \
        "error line does not name the option (expected one of %s)\n%s" % (words, ctx)


def test_version(stratus):
    p = subprocess.run([str(stratus), "-version"], capture_output=True, timeout=10)
    assert p.returncode == 0, p
    out = p.stdout.decode()
    assert re.search(r"stratus", out, re.I) and "0.1.0" in out, out


def test_help(stratus):
    p = subprocess.run([str(stratus), "-help"], capture_output=True, timeout=10)
    assert p.returncode == 0, p
    out = p.stdout.decode()
    for opt in ("-machine", "-accel", "-smp", "-m ", "-kernel", "-initrd", "-append", "-serial",
                "-chardev", "-qmp", "-mon", "-D", "-daemonize", "-pidfile", "-S"):
        assert opt in out, "-help does not mention %s" % opt


@pytest.mark.parametrize("name,alias", [("-version", "-V"), ("-help", "-h")])
def test_version_and_help_aliases(stratus, name, alias):
    """-V and -h print exactly what -version and -help print."""
    out = [subprocess.run([str(stratus), o], capture_output=True, timeout=10)
           for o in (name, alias)]
    assert [p.returncode for p in out] == [0, 0], out
    assert out[0].stdout and out[0].stdout == out[1].stdout


def test_display_options_are_accepted(make_vm, stratus):
    """The display options QEMUMachine and older tooling pass (docs/command-line.md,
    "Accepted for compatibility"): a guest boots with them; a display Stratus
    cannot offer is one error line."""
    vm = make_vm(extra_args=["-display", "none", "-vga", "none", "-nographic",
                             "-no-user-config"])
    vm.boot()
    assert vm.qmp.cmd("query-status")["status"] == "running"
    check_error_exit([str(stratus), "-accel", "qtest", "-vga", "std"], ["-vga"])
    check_error_exit([str(stratus), "-accel", "qtest", "-display", "gtk"], ["-display"])


@pytest.mark.parametrize("spelling", [["-machine", "help"], ["-M", "?"],
                                      ["-machine", "help,accel=kvm"]])
def test_machine_help(stratus, spelling):
    """QEMU's listing of the registered machine classes, before any other check."""
    p = subprocess.run([str(stratus)] + spelling, capture_output=True, timeout=10)
    assert p.returncode == 0, p
    assert p.stdout.decode().splitlines() == [
        "Supported machines are:",
        "microvm              microvm (i386) (default)",
        "q35                  Standard PC (Q35 + ICH9, PCI Express)",
        "none                 empty machine",
    ]


def test_unknown_machine_type(stratus, files):
    """A machine type nobody registers is refused by the parser, naming the choices."""
    p = subprocess.run([str(stratus), "-machine", "pc", "-accel", "qtest"],
                       capture_output=True, timeout=10)
    assert p.returncode == 1, p
    assert p.stderr.decode().strip() == \
        "stratus: error: -machine: unsupported machine type 'pc' (expected microvm, q35 or none)"


# ---------------------------------------------------------------------------
# -D log

LOG_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{9}): "
                    r"\[(\d+)\]\[(\d+)\]\[([^\]\s:]+):(\d+)\]:(ERROR|WARN|INFO|DEBUG|TRACE): ")


def check_log_lines(text, pid):
    lines = [l for l in text.split("\n") if l]
    assert lines, "empty log"
    year = time.localtime().tm_year
    for l in lines:
        m = LOG_RE.match(l)
        assert m, "log line in the wrong format: %r" % l
        assert abs(int(m.group(1)) - year) <= 1, l
        assert int(m.group(8)) == pid, "log line pid %s != VMM pid %d: %r" % (m.group(8), pid, l)
    return lines


def wait_vcpu_lines(read, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        count = sum(1 for l in read().split("\n") if ":INFO: Vcpu" in l)
        if count >= n or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@pytest.mark.parametrize("smp", [1, 3])
def test_log_file(make_vm, tmp_path, smp):
    log = tmp_path / "stratus.log"
    vm = make_vm(smp=smp, log_file=log, env={"STRATUS_LOG_LEVEL": "info"})
    vm.boot()
    assert vm.info()["online"] == smp
    count = wait_vcpu_lines(vm.log_text, smp)
    assert count == smp, "expected %d ':INFO: Vcpu' lines, got %d:\n%s" % (smp, count,
                                                                         vm.log_text())
    assert vm.quit() == 0
    check_log_lines(vm.log_text(), vm.pid)


def test_log_stderr(make_vm):
    """-D without a file logs to stderr."""
    vm = make_vm(smp=2, env={"STRATUS_LOG_LEVEL": "info"}, extra_args=["-D"])
    vm.boot()
    count = wait_vcpu_lines(vm.stderr_text, 2)
    assert count == 2, vm.stderr_text()
    assert vm.quit() == 0
    check_log_lines(vm.stderr_text(), vm.pid)


def test_log_level_error(make_vm, tmp_path):
    log = tmp_path / "stratus.log"
    vm = make_vm(smp=2, log_file=log, env={"STRATUS_LOG_LEVEL": "error"})
    vm.boot()
    assert vm.quit() == 0
    text = vm.log_text()
    assert ":INFO:" not in text and ":DEBUG:" not in text, text
    if text:
        check_log_lines(text, vm.pid)


# ---------------------------------------------------------------------------
# Choosing the accelerator: QEMU's spellings; tcg is Stratus's emu

KVM_OK = kvm_usable()

# (id, -machine value, extra arguments, the accelerator the VM runs on on this host)
ACCEL_SPELLINGS = [
    ("accel-emu", "microvm", ["-accel", "emu"], "emu"),
    ("accel-tcg", "microvm", ["-accel", "tcg"], "emu"),
    ("machine-accel-emu", "microvm,accel=emu", [], "emu"),
    ("machine-accel-tcg", "microvm,accel=tcg", [], "emu"),
    ("accel-kvm-tcg", "microvm", ["-accel", "kvm:tcg"], "kvm" if KVM_OK else "emu"),
    ("machine-accel-kvm-tcg", "microvm,accel=kvm:tcg", [], "kvm" if KVM_OK else "emu"),
    ("accel-overrides-machine-accel", "microvm,accel=kvm", ["-accel", "tcg"], "emu"),
]


@pytest.mark.parametrize("case,machine,args,accel", [
    pytest.param(*c, id="%s-%s" % (c[3], c[0])) for c in ACCEL_SPELLINGS])
def test_accel_spelling(make_vm, case, machine, args, accel):
    """Accepted; the VM runs on `accel` (query-kvm: enabled only on kvm, present
    iff /dev/kvm is usable) and boots the guest."""
    vm = make_vm(accel=None, machine=machine, extra_args=args, freeze=True)
    vm.launch()
    assert vm.qmp.execute("query-kvm") == \
        {"return": {"enabled": accel == "kvm", "present": KVM_OK}}, vm.describe()
    assert vm.qmp.execute("cont") == {"return": {}}
    vm.console.wait_prompt()
    r = vm.run("echo runs-on-" + accel)
    assert r.ok and r.get("text") == "runs-on-" + accel, r
    assert vm.quit() == 0


KVM_SPELLINGS = [
    ("accel-kvm", "microvm", ["-accel", "kvm"]),
    ("enable-kvm", "microvm", ["-enable-kvm"]),
    ("machine-accel-kvm", "microvm,accel=kvm", []),
]


@pytest.mark.parametrize("case,machine,args", KVM_SPELLINGS, ids=[c[0] for c in KVM_SPELLINGS])
def test_accel_kvm_needs_kvm(stratus, bzimage, tmp_path, case, machine, args):
    """Asking for KVM alone: where /dev/kvm is not usable, exit 1 with one
    `stratus: error:` line naming /dev/kvm (no fall-back to emu); where it is
    usable, the VM runs on KVM.  Never skips."""
    if not KVM_OK:
        sock = short_tmpdir()
        try:
            opts = base_opts()
            opts["-machine"] = [machine]
            argv = [str(stratus)] + argv_of(opts, args, dict(KERNEL=str(bzimage), SOCK=sock))
            check_error_exit(argv, ["/dev/kvm"])
        finally:
            import shutil
            shutil.rmtree(sock, ignore_errors=True)
        return
    vm = Vm(stratus, kernel=bzimage, machine=machine, extra_args=args, freeze=True,
            workdir=tmp_path, name="kvm-" + case)
    try:
        vm.launch()
        assert vm.qmp.execute("query-kvm") == {"return": {"enabled": True, "present": True}}
        assert vm.qmp.execute("cont") == {"return": {}}
        vm.console.wait_prompt()
        assert vm.run("echo on-kvm").get("text") == "on-kvm"
        assert vm.quit() == 0
    finally:
        vm.cleanup()
