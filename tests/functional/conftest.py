"""Fixtures and policy for the functional tests.

Paths (override with environment variables):
  STRATUS_BUILD_DIR      build directory (default <repo>/build)
  STRATUS_BIN            the VMM (default $STRATUS_BUILD_DIR/stratus)
  STRATUS_GUEST_BZIMAGE  test guest bzImage (default $STRATUS_BUILD_DIR/tests/guest/bzImage)
  STRATUS_GUEST_VMLINUX  test guest vmlinux.bin (default .../tests/guest/vmlinux.bin)
  QEMU                   qemu-system-x86_64 for the cross-check

Skip policy: every skip prints its reason (run pytest with -ra).  With CI=true any
skip is a failure of the session except the documented Linux-lane skip whose reason
starts with ALLOWED_CI_SKIP ("guest CPL0 not native").  An empty run (pytest exit
status 5) is turned into a failure too.
"""

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stratus_vm  # noqa: E402
from stratus_vm import Vm, QemuVm, short_tmpdir  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("STRATUS_BUILD_DIR", ROOT / "build"))
CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
ALLOWED_CI_SKIP = "guest CPL0 not native"
DEFAULT_TEST_TIMEOUT = int(os.environ.get("STRATUS_TEST_TIMEOUT", "120"))

_skips = []          # (nodeid, reason)


def _path(env, default):
    return Path(os.environ[env]) if os.environ.get(env) else default


STRATUS_BIN = _path("STRATUS_BIN", BUILD_DIR / "stratus")
GUEST_BZIMAGE = _path("STRATUS_GUEST_BZIMAGE", BUILD_DIR / "tests/guest/bzImage")
GUEST_VMLINUX = _path("STRATUS_GUEST_VMLINUX", BUILD_DIR / "tests/guest/vmlinux.bin")


def kvm_problem():
    """None if /dev/kvm is usable, else why not."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not readable and writable by uid %d" % os.getuid()
    return None


# ---------------------------------------------------------------------------
# hooks

def pytest_configure(config):
    config.addinivalue_line("markers", "kvm: needs a usable /dev/kvm")
    config.addinivalue_line("markers", "qemu: needs qemu-system-x86_64 (cross-check)")
    config.addinivalue_line("markers", "linux: the Linux-guest lane (needs native guest CPL0)")
    config.addinivalue_line("markers", "test_timeout(seconds): per-test wall-clock limit")
    # -daemonize'd VMMs get reparented to us so tests can read their exit status.
    stratus_vm.become_subreaper()


def pytest_report_header(config):
    return ["stratus: %s (%s)" % (STRATUS_BIN, "present" if STRATUS_BIN.exists() else "MISSING"),
            "guest: %s (%s)" % (GUEST_BZIMAGE, "present" if GUEST_BZIMAGE.exists() else "MISSING"),
            "kvm: %s" % (kvm_problem() or "usable"),
            "CI skip policy: %s" % ("ON (only '%s...' may skip)" % ALLOWED_CI_SKIP if CI else "off")]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("kvm"):
        why = kvm_problem()
        if why:
            pytest.skip("needs /dev/kvm: " + why)


class _TestTimeout(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A hung VM fails the test instead of hanging the run (SIGALRM)."""
    m = item.get_closest_marker("test_timeout")
    seconds = int(m.args[0]) if m else DEFAULT_TEST_TIMEOUT

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
    return [(n, r) for n, r in _skips if not r.startswith(ALLOWED_CI_SKIP)]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tr = terminalreporter
    chars = getattr(config.option, "reportchars", "") or ""
    if _skips and not any(c in chars for c in "sSaA"):   # -ra/-rs already list reasons
        tr.section("skipped tests and why")
        for nodeid, reason in _skips:
            tr.write_line("SKIP %s: %s" % (nodeid, reason))
    if CI and _forbidden_skips():
        tr.section("CI skip policy violated")
        tr.write_line("CI=true: only skips whose reason starts with %r are allowed;"
                      " these lanes could have run:" % ALLOWED_CI_SKIP, red=True)
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


@pytest.fixture
def sockdir():
    """A short directory under /tmp for unix sockets (sun_path is 108 bytes)."""
    d = short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_vm(request, tmp_path, bzimage):
    """Factory: make_vm(**Vm kwargs) -> unlaunched Vm with the test guest.
    Every VM is killed on teardown; a failed test prints each VM's command line,
    stderr, console transcript and log."""
    vms = []

    def factory(cls=Vm, binary=None, **kw):
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
    """A 256 MiB, 1-vCPU VM at its prompt (console over a unix socket)."""
    vm = make_vm()
    vm.boot()
    return vm
