"""Fixtures and policy for the functional tests.

Paths (override with environment variables):
  STRATUS_BUILD_DIR      build directory (default <repo>/build)
  STRATUS_BIN            the VMM (default $STRATUS_BUILD_DIR/stratus)
  STRATUS_GUEST_BZIMAGE  test guest bzImage (default $STRATUS_BUILD_DIR/tests/guest/bzImage)
  STRATUS_GUEST_VMLINUX  test guest vmlinux.bin (default .../tests/guest/vmlinux.bin)
Installed (`meson install` puts this directory in libexec/installed-tests/stratus/
functional with an installed-layout.json beside this file, docs/conformance.md):
the defaults are then the installed bin/stratus and ../guest/*, and tests marked
`source_tree` (they need the build or source tree) skip with SOURCE_TREE_SKIP.
  QEMU                   qemu-system-x86_64 for the cross-check
  STRATUS_EMU_PENDING    "run": also run the [emu] instances marked emu_pending

Accelerators: every test that boots a VM (through make_vm / booted_vm, which use
the `accel` fixture) runs once per accelerator of ACCELS, ids [emu] and [kvm];
the VM gets `-accel <name>`.  A test may pin the accelerator with
@pytest.mark.parametrize("accel", ["emu"]).  The [kvm] instance, and any test
marked `kvm` (KVM-only), skips where /dev/kvm is not usable with a reason
starting with KVM_ONLY_SKIP.  @pytest.mark.emu_pending("why") makes the [emu]
instance skip with KVM_ONLY_SKIP + ": emu does not run this yet (why)" until the
software CPU runs it (STRATUS_EMU_PENDING=run ignores the marker).

Skip policy: every skip prints its reason (run pytest with -ra).  With CI=true any
skip is a failure of the session except those whose reason starts with one of
ALLOWED_CI_SKIPS: the Linux lane's LINUX_LANE_SKIP ("guest CPL0 not native") and
KVM_ONLY_SKIP ("KVM-only test on a host without KVM").  An empty run (pytest exit
status 5) is turned into a failure too.
"""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stratus_vm  # noqa: E402
from stratus_vm import Vm, QemuVm, short_tmpdir, TIMEOUT_FACTOR  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]          # the source tree (meaningless when installed)
LAYOUT_FILE = HERE / "installed-layout.json"
INSTALLED = LAYOUT_FILE.exists()
SOURCE_TREE_SKIP = "needs the source tree"


def _installed_layout():
    """Where an installed suite finds the VMM and the guest (paths relative to
    this directory, written by tests/conformance/meson.build), or None in tree."""
    if not INSTALLED:
        return None
    with open(LAYOUT_FILE) as f:
        rel = json.load(f)
    return {k: (HERE / v).resolve() for k, v in rel.items()}


LAYOUT = _installed_layout()
# build-linux-guest.sh and native-kvm-probe: installed with the suite too
SCRIPTS_DIR = LAYOUT["scriptsdir"] if LAYOUT else ROOT / "scripts"
BUILD_DIR = Path(os.environ.get("STRATUS_BUILD_DIR", ROOT / "build"))
CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
ACCELS = ("emu", "kvm")
LINUX_LANE_SKIP = "guest CPL0 not native"
KVM_ONLY_SKIP = "KVM-only test on a host without KVM"
EMU_PENDING_SKIP = KVM_ONLY_SKIP + ": emu does not run this yet"
ALLOWED_CI_SKIPS = (LINUX_LANE_SKIP, KVM_ONLY_SKIP)
EMU_PENDING_RUN = os.environ.get("STRATUS_EMU_PENDING", "") == "run"
DEFAULT_TEST_TIMEOUT = int(os.environ.get("STRATUS_TEST_TIMEOUT", "120"))

_skips = []          # (nodeid, reason)


def _path(env, default):
    return Path(os.environ[env]) if os.environ.get(env) else default


_BIN_DIR = LAYOUT["bindir"] if LAYOUT else BUILD_DIR
_GUEST_DIR = LAYOUT["guestdir"] if LAYOUT else BUILD_DIR / "tests/guest"
STRATUS_BIN = _path("STRATUS_BIN", _BIN_DIR / "stratus")
GUEST_BZIMAGE = _path("STRATUS_GUEST_BZIMAGE", _GUEST_DIR / "bzImage")
GUEST_VMLINUX = _path("STRATUS_GUEST_VMLINUX", _GUEST_DIR / "vmlinux.bin")


KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12
_kvm_problem = []


def kvm_problem():
    """None if /dev/kvm is usable (what Stratus checks: it opens read-write and
    reports KVM API version 12), else why not, naming /dev/kvm."""
    if not _kvm_problem:
        _kvm_problem.append(_probe_kvm())
    return _kvm_problem[0]


def kvm_usable():
    return kvm_problem() is None


def _probe_kvm():
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not readable and writable by uid %d" % os.getuid()
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "/dev/kvm cannot be opened: %s" % e.strerror
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return "/dev/kvm: KVM_GET_API_VERSION failed: %s" % e.strerror
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return "/dev/kvm reports KVM API version %d, not %d" % (version, KVM_API_VERSION)
    return None


def skip_allowed_in_ci(reason):
    """The CI skip policy: may a test skip with this reason under CI=true?"""
    return reason.startswith(ALLOWED_CI_SKIPS)


def item_accel(item):
    """The accelerator a collected test runs on ('emu', 'kvm'), None if it does
    not take the `accel` parameter."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("accel") if callspec is not None else None


def accel_skip_reason(accel, kvm_only, pending, why_no_kvm, pending_run):
    """Why a test must skip, or None.  accel: its `accel` parameter (or None);
    kvm_only: marked `kvm`; pending: the emu_pending reason (or None);
    why_no_kvm: kvm_problem(); pending_run: STRATUS_EMU_PENDING=run."""
    if (accel == "kvm" or kvm_only) and why_no_kvm:
        return "%s: %s" % (KVM_ONLY_SKIP, why_no_kvm)
    if accel == "emu" and pending is not None and not pending_run:
        return "%s (%s)" % (EMU_PENDING_SKIP, pending)
    return None


# ---------------------------------------------------------------------------
# hooks

def pytest_configure(config):
    config.addinivalue_line("markers", "kvm: a KVM-only test (skips with '%s: ...' where "
                            "/dev/kvm is not usable)" % KVM_ONLY_SKIP)
    config.addinivalue_line("markers", "emu_pending(why): the [emu] instance skips with '%s "
                            "(why)' (STRATUS_EMU_PENDING=run runs it)" % EMU_PENDING_SKIP)
    for a in ACCELS:
        config.addinivalue_line("markers", "accel_%s: added to every test instance that "
                                "runs on %s (select with -m accel_%s)" % (a, a, a))
    config.addinivalue_line("markers", "qemu: needs qemu-system-x86_64 (cross-check)")
    config.addinivalue_line("markers", "linux: the Linux-guest lane (needs native guest CPL0)")
    config.addinivalue_line("markers", "test_timeout(seconds): per-test wall-clock limit")
    config.addinivalue_line("markers", "covers(commands=[], events=[], options=[], devices=[]): "
                            "what a test that may skip before starting a VMM would exercise; "
                            "stratus-conformance reports those rows not applicable when it "
                            "skips (docs/conformance.md)")
    config.addinivalue_line("markers", "install: runs meson install and the installed "
                            "stratus-conformance (test_installed.py)")
    config.addinivalue_line("markers", "source_tree(why): needs the source or build tree; "
                            "skips with '%s (why)' in an installed suite" % SOURCE_TREE_SKIP)
    # -daemonize'd VMMs get reparented to us so tests can read their exit status.
    stratus_vm.become_subreaper()


def pytest_report_header(config):
    return ["suite: %s" % ("installed (%s)" % LAYOUT_FILE if INSTALLED else "source tree"),
            "stratus: %s (%s)" % (STRATUS_BIN, "present" if STRATUS_BIN.exists() else "MISSING"),
            "guest: %s (%s)" % (GUEST_BZIMAGE, "present" if GUEST_BZIMAGE.exists() else "MISSING"),
            "accelerators: %s; kvm: %s" % (", ".join(ACCELS), kvm_problem() or "usable"),
            "emu_pending: %s" % ("ignored (STRATUS_EMU_PENDING=run)" if EMU_PENDING_RUN
                                 else "marked [emu] tests skip"),
            "CI skip policy: %s" % ("ON (only %s may skip)" % " or ".join(
                "'%s...'" % r for r in ALLOWED_CI_SKIPS) if CI else "off")]


def pytest_collection_modifyitems(config, items):
    for item in items:
        accel = item_accel(item)
        if accel in ACCELS:
            item.add_marker("accel_" + accel)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    pending = item.get_closest_marker("emu_pending")
    why_pending = None
    if pending is not None:
        if not pending.args or not str(pending.args[0]).strip():
            pytest.fail("@pytest.mark.emu_pending needs a reason: emu_pending(\"why\")",
                        pytrace=False)
        why_pending = str(pending.args[0])
    tree = item.get_closest_marker("source_tree")
    if tree is not None and INSTALLED:
        pytest.skip("%s (%s)" % (SOURCE_TREE_SKIP, tree.args[0] if tree.args else "?"))
    reason = accel_skip_reason(item_accel(item), item.get_closest_marker("kvm") is not None,
                               why_pending, kvm_problem(), EMU_PENDING_RUN)
    if reason:
        pytest.skip(reason)


class _TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A hung VM fails the test instead of hanging the run (SIGALRM)."""
    m = item.get_closest_marker("test_timeout")
    seconds = int((int(m.args[0]) if m else DEFAULT_TEST_TIMEOUT) * TIMEOUT_FACTOR)

    def on_alarm(signum, frame):
        raise _TestTimeout("test exceeded its %ds wall-clock limit" % seconds)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _skip_reason(report):
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        reason = lr[2]
    else:
        reason = str(lr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, _skip_reason(report)))


def _forbidden_skips():
    return [(n, r) for n, r in _skips if not skip_allowed_in_ci(r)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tr = terminalreporter
    chars = getattr(config.option, "reportchars", "") or ""
    if _skips and not any(c in chars for c in "sSaA"):   # -ra/-rs already list reasons
        tr.section("skipped tests and why")
        for nodeid, reason in _skips:
            tr.write_line("SKIP %s: %s" % (nodeid, reason))
    pending = [n for n, r in _skips if r.startswith(EMU_PENDING_SKIP)]
    if pending:
        tr.write_line("emu_pending: %d [emu] test(s) skipped because the software CPU does not"
                      " run them yet (STRATUS_EMU_PENDING=run runs them)" % len(pending),
                      yellow=True)
    if CI and _forbidden_skips():
        tr.section("CI skip policy violated")
        tr.write_line("CI=true: only skips whose reason starts with %s are allowed;"
                      " these lanes could have run:"
                      % " or ".join(repr(r) for r in ALLOWED_CI_SKIPS), red=True)
        for nodeid, reason in _forbidden_skips():
            tr.write_line("  %s: %s" % (nodeid, reason), red=True)
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        tr.write_line("ERROR: no tests were collected (treated as a failure)", red=True)


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif CI and _forbidden_skips() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="session")
def stratus():
    if not STRATUS_BIN.exists():
        pytest.skip("stratus binary not built: %s does not exist" % STRATUS_BIN)
    return STRATUS_BIN


@pytest.fixture(scope="session")
def bzimage():
    if not GUEST_BZIMAGE.exists():
        pytest.skip("test guest not built: %s does not exist" % GUEST_BZIMAGE)
    return GUEST_BZIMAGE


@pytest.fixture(scope="session")
def vmlinux():
    if not GUEST_VMLINUX.exists():
        pytest.skip("test guest not built: %s does not exist" % GUEST_VMLINUX)
    return GUEST_VMLINUX


@pytest.fixture(scope="session")
def qemu_bin():
    path = os.environ.get("QEMU") or shutil.which("qemu-system-x86_64")
    if not path:
        pytest.skip("qemu-system-x86_64 not installed (apt-get install qemu-system-x86)")
    return path


@pytest.fixture(scope="session")
def linux_guest_dir(tmp_path_factory):
    """The Linux lane's guest (test_linux*.py, helpers in linux_guest.py): the
    directory scripts/build-linux-guest.sh wrote (vmlinuz, initramfs.cpio.gz,
    cmdline), built once per session."""
    out = tmp_path_factory.mktemp("linux-guest")
    p = subprocess.run(["bash", str(SCRIPTS_DIR / "build-linux-guest.sh"), str(out)],
                       capture_output=True, text=True, timeout=300)
    if p.returncode == 2:       # a host package is missing (CI's skip policy fails this)
        pytest.skip("Linux guest prerequisites missing: %s" % p.stderr.strip())
    assert p.returncode == 0, "build-linux-guest.sh failed:\n%s%s" % (p.stdout, p.stderr)
    return out


@pytest.fixture
def sockdir():
    """A short directory under /tmp for unix sockets (sun_path is 108 bytes)."""
    d = short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=ACCELS)
def accel(request):
    """The accelerator of this test instance: 'emu' or 'kvm' (ids [emu]/[kvm]).
    The skips are in pytest_runtest_setup (they also apply to tests that pin
    the accelerator with @pytest.mark.parametrize("accel", [...]))."""
    return request.param


@pytest.fixture
def make_vm(request, tmp_path, bzimage, accel):
    """Factory: make_vm(**Vm kwargs) -> unlaunched Vm with the test guest, on the
    test's accelerator (accel=None: no -accel option; QemuVm maps emu to tcg).
    Every VM is killed on teardown; a failed test prints each VM's command line,
    stderr, console transcript and log."""
    vms = []

    def factory(cls=Vm, binary=None, **kw):
        kw.setdefault("accel", accel)
        kw.setdefault("kernel", bzimage)
        kw.setdefault("workdir", tmp_path)
        kw.setdefault("name", "vm%d" % len(vms))
        if binary is None:
            binary = request.getfixturevalue("stratus")
        vm = cls(binary, **kw)
        vms.append(vm)
        return vm

    yield factory
    failed = any(getattr(request.node, "rep_" + w, None) is not None and
                 getattr(request.node, "rep_" + w).failed for w in ("setup", "call"))
    for vm in vms:
        if failed and vm.proc is not None:
            print("\n===== %s =====" % vm.name)
            print(vm.describe())
            if vm.console is not None:
                print("--- console transcript (tail) ---")
                print(stratus_vm.tail(vm.console.transcript, 60))
            if vm.qmp is not None:
                print("--- QMP transcript (tail) ---")
                print(stratus_vm.tail("\n".join("%s %s" % t for t in vm.qmp.transcript)))
        vm.cleanup()


@pytest.fixture
def booted_vm(make_vm):
    """A 256 MiB, 1-vCPU VM on the test's accelerator at its prompt (console over
    a unix socket)."""
    vm = make_vm()
    vm.boot()
    return vm
