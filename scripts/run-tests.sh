#!/bin/bash
# Build Stratus and the test guest, then run every test suite:
#   1. every meson suite: unit, kvm, qtest, ...  (meson test -C build)
#   2. unit + qtest suites under ASan/UBSan      (build-asan, -Db_sanitize=address,undefined)
#   3. functional tests                          (/usr/bin/python3 -m pytest tests/functional)
#   4. functional tests again on the ASan/UBSan build of the VMM
# Every step runs even if an earlier one failed; the exit status is non-zero if any
# step failed.  With CI=true a skipped test is a failure too, and so is a suite with
# no tests, except two documented skip reasons:
#   * "guest CPL0 not native: ..."  the functional Linux lane (scripts/native-kvm-probe);
#   * "KVM-only test on a host without KVM: ..."  where /dev/kvm is not usable: the
#     [kvm] instances of the functional tests, KVM-only functional tests, [emu]
#     instances marked emu_pending (tests/functional/README.md), and a skipped test
#     of the meson kvm suite (no other meson suite may skip; and where /dev/kvm is
#     usable a skipped kvm-suite test fails the run).
#
# Environment: STRATUS_BUILD_DIR (default build), STRATUS_ASAN_BUILD_DIR (default
# build-asan), STRATUS_SKIP_ASAN=1 (local runs only; refused with CI=true),
# PYTEST_ARGS (extra pytest arguments, e.g. "-k boot -x").
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${STRATUS_BUILD_DIR:-build}
ASAN_BUILD=${STRATUS_ASAN_BUILD_DIR:-build-asan}
PYTHON=/usr/bin/python3          # Debian's, which has pytest (not a pyenv shim)
case "${CI:-}" in true|1|yes) CI_MODE=1 ;; *) CI_MODE=0 ;; esac

failures=()
results=()
t_start=$SECONDS

step() { echo; echo "======== $* ($((SECONDS - t_start)) s elapsed) ========"; }
record() {   # record NAME STATUS
    if [ "$2" -eq 0 ]; then results+=("PASS  $1"); else results+=("FAIL  $1 (status $2)"); failures+=("$1"); fi
}

# After a lane that boots guests: any VMM (ours or QEMU) still running is a test
# that leaked it.  Leaked emulated guests spin on the CPU and slow every later
# step (once they made the fuzzers 20-60 times slower), so they are listed,
# killed, and fail the lane.  Only processes that inherited this run's
# STRATUS_TEST_RUN tag are touched, never a VM the user started.
export STRATUS_TEST_RUN="$$-$RANDOM"
reap_leaked_vmms() {   # reap_leaked_vmms LANE
    local pids=() pid
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [ "$pid" = $$ ] && continue
        { tr '\0' '\n' < "/proc/$pid/environ"; } 2>/dev/null |
            grep -qx "STRATUS_TEST_RUN=$STRATUS_TEST_RUN" || continue
        case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
        */stratus|*/qemu-system-*) pids+=("$pid") ;;
        esac
    done
    [ ${#pids[@]} -eq 0 ] && return 0
    echo "ERROR: $1 left ${#pids[@]} VMM process(es) running; killing them:"
    for pid in "${pids[@]}"; do
        echo "  $pid: $({ tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-300)"
        kill -9 "$pid" 2>/dev/null
    done
    return 1
}

configure() {   # configure BUILDDIR [meson options...]
    local dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        return 0
    fi
    meson setup "$dir" "$@"
}

# Checks a build's meson test log: each wanted suite had tests; no SKIP under CI
# except a test of the kvm suite (only) on a host where /dev/kvm is not usable.
check_meson_log() {   # check_meson_log BUILDDIR SUITE...
    local dir=$1; shift
    "$PYTHON" - "$dir" "$CI_MODE" "$@" <<'PYEOF'
import fcntl, json, os, re, sys
build, ci, suites = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
KVM_ONLY_SKIP = "KVM-only test on a host without KVM"   # tests/functional/conftest.py


def kvm_problem():
    """None if /dev/kvm is usable (opens read-write, KVM API 12: conftest.py's
    check), else why not, naming /dev/kvm."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as e:
        return "/dev/kvm cannot be opened read-write: %s" % e.strerror
    try:
        version = fcntl.ioctl(fd, 0xAE00)            # KVM_GET_API_VERSION
    except OSError as e:
        return "/dev/kvm: KVM_GET_API_VERSION failed: %s" % e.strerror
    finally:
        os.close(fd)
    return None if version == 12 else "/dev/kvm reports KVM API version %d" % version


seen = {s: 0 for s in suites}
skipped = []
try:
    with open(build + "/meson-logs/testlog.json") as f:
        for line in f:
            if not line.strip():
                continue
            t = json.loads(line)
            # name is "project:suite[+suite...] / test" (no separate suite field)
            m = re.match(r"^[^:/]*:(\S+) / ", t.get("name", ""))
            names = t.get("suite") or (m.group(1).split("+") if m else [])
            names = [s.split(":", 1)[-1] for s in names]
            for s in names:
                if s in seen:
                    seen[s] += 1
            if t.get("result") == "SKIP":
                skipped.append((t.get("name"), names))
except FileNotFoundError:
    print("no test log in %s/meson-logs" % build)
    sys.exit(1)
bad = False
for s, n in seen.items():
    print("suite %-8s %d test(s)" % (s, n))
    if n == 0:
        print("ERROR: suite '%s' ran no tests" % s)
        bad = True
no_kvm = kvm_problem()
for name, names in skipped:
    if names == ["kvm"] and no_kvm:
        print("meson test skipped (allowed): %s: %s: %s" % (name, KVM_ONLY_SKIP, no_kvm))
        continue
    why = "/dev/kvm is usable, so the kvm suite must run" if names == ["kvm"] else \
        "only the kvm suite may skip, and only where /dev/kvm is not usable"
    print(("ERROR (CI=true): " if ci else "note: ") + "meson test skipped: %s (%s)" % (name, why))
    bad = bad or ci
sys.exit(1 if bad else 0)
PYEOF
}

# ---- 1. build
step "build ($BUILD)"
if configure "$BUILD" && ninja -C "$BUILD"; then
    record "build" 0
else
    record "build" 1
    echo "build failed; nothing to test"
    printf '%s\n' "${results[@]}"
    exit 1
fi

# ---- 2. meson suites: unit, kvm, qtest
step "meson test: all suites (unit, kvm, qtest, ...) ($BUILD)"
meson test -C "$BUILD" --print-errorlogs
record "meson test (all suites)" $?
check_meson_log "$BUILD" unit kvm qtest
record "meson suites present, no CI skips" $?

# ---- 3. ASan/UBSan
if [ "${STRATUS_SKIP_ASAN:-0}" = 1 ] && [ $CI_MODE = 0 ]; then
    step "ASan/UBSan: SKIPPED because STRATUS_SKIP_ASAN=1"
    results+=("SKIP  ASan/UBSan unit+qtest (STRATUS_SKIP_ASAN=1)")
else
    step "ASan/UBSan build and unit + qtest suites ($ASAN_BUILD)"
    if configure "$ASAN_BUILD" -Db_sanitize=address,undefined && ninja -C "$ASAN_BUILD"; then
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
            meson test -C "$ASAN_BUILD" --print-errorlogs --suite unit --suite qtest
        record "ASan/UBSan meson test (unit, qtest)" $?
        check_meson_log "$ASAN_BUILD" unit qtest
        record "ASan/UBSan suites present, no CI skips" $?
    else
        record "ASan/UBSan build" 1
    fi
fi

# ---- 4. functional
step "functional tests (pytest, $BUILD/stratus)"
# shellcheck disable=SC2086
STRATUS_BUILD_DIR="$BUILD" "$PYTHON" -m pytest tests/functional -ra -v \
    -p no:cacheprovider --durations=10 ${PYTEST_ARGS:-}
status=$?
if [ $status -eq 5 ]; then
    echo "ERROR: pytest collected no tests"
fi
record "functional (pytest)" $status
reap_leaked_vmms "functional (pytest)"
record "functional: no VMM left running" $?

# ---- 5. functional again, on the ASan/UBSan VMM (real boots find what unit tests miss)
if [ -x "$ASAN_BUILD/stratus" ] && [ "${STRATUS_SKIP_ASAN:-0}" != 1 -o $CI_MODE = 1 ]; then
    step "functional tests on the ASan/UBSan VMM ($ASAN_BUILD/stratus; QEMU, Linux and install lanes deselected)"
    # shellcheck disable=SC2086
    STRATUS_BUILD_DIR="$ASAN_BUILD" STRATUS_TIMEOUT_FACTOR=${STRATUS_TIMEOUT_FACTOR:-3} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
        "$PYTHON" -m pytest tests/functional -ra -q -p no:cacheprovider \
        -m "not qemu and not linux and not install" ${PYTEST_ARGS:-}
    record "functional on ASan/UBSan VMM (pytest)" $?
    reap_leaked_vmms "functional on ASan/UBSan VMM"
    record "functional on ASan/UBSan VMM: no VMM left running" $?
fi

# ---- 6. fuzzers for a fixed count (QMP, option parser, kernel loader, qtest protocol)
step "fuzz (scripts/fuzz.sh ${STRATUS_FUZZ_RUNS:-20000})"
# A fixed seed: the suite must give the same verdict on every run; open-ended
# exploration is scripts/fuzz.sh without FUZZ_SEED (docs/fuzzing in README).
FUZZ_SEED="${STRATUS_FUZZ_SEED:-1}" FUZZ_OUT="$ROOT/build-fuzz" \
    scripts/fuzz.sh "${STRATUS_FUZZ_RUNS:-20000}"
record "fuzz: qmp options loader qtest (${STRATUS_FUZZ_RUNS:-20000} runs each)" $?

# ---- summary
step "summary ($((SECONDS - t_start)) s)"
printf '%s\n' "${results[@]}"
if [ ${#failures[@]} -gt 0 ]; then
    echo "FAILED: ${failures[*]}"
    exit 1
fi
echo "all test suites passed"
