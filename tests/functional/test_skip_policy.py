"""The accelerator parameter and the CI skip policy of conftest.py.

Unit tests of the policy functions, and runs of pytest (with conftest.py loaded as
a plugin) over small generated test files: one per skip reason, an emu_pending
test, a KVM-only test, an empty run, with and without CI=true.  No VM is started.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import conftest
from conftest import (ALLOWED_CI_SKIPS, EMU_PENDING_SKIP, KVM_ONLY_SKIP, LINUX_LANE_SKIP,
                      accel_skip_reason, kvm_problem, skip_allowed_in_ci)

HERE = Path(__file__).resolve().parent


def test_allowed_reasons():
    assert ALLOWED_CI_SKIPS == ("guest CPL0 not native", "KVM-only test on a host without KVM")
    assert skip_allowed_in_ci(LINUX_LANE_SKIP + ": kvm_pvm runs CPL0 1000x slower")
    assert skip_allowed_in_ci(KVM_ONLY_SKIP + ": /dev/kvm does not exist")
    assert skip_allowed_in_ci(EMU_PENDING_SKIP + " (no x87)")
    for reason in ["needs /dev/kvm: /dev/kvm does not exist",
                   "stratus binary not built: build/stratus does not exist",
                   "qemu-system-x86_64 not installed",
                   "kvm-only test on a host without kvm: case matters",
                   " " + KVM_ONLY_SKIP]:
        assert not skip_allowed_in_ci(reason), reason


def test_accel_skip_reason():
    no = "/dev/kvm does not exist"
    # the kvm instance and KVM-only tests skip only where KVM is not usable
    assert accel_skip_reason("kvm", False, None, no, False) == KVM_ONLY_SKIP + ": " + no
    assert accel_skip_reason(None, True, None, no, False) == KVM_ONLY_SKIP + ": " + no
    assert accel_skip_reason("kvm", False, None, None, False) is None
    assert accel_skip_reason(None, True, None, None, False) is None
    # emu never needs KVM
    assert accel_skip_reason("emu", False, None, no, False) is None
    assert accel_skip_reason(None, False, None, no, False) is None
    # emu_pending: only the emu instance, unless STRATUS_EMU_PENDING=run
    why = "emu has no SSE yet"
    for kvm in (no, None):
        assert accel_skip_reason("emu", False, why, kvm, False) == \
            "KVM-only test on a host without KVM: emu does not run this yet (%s)" % why
        assert accel_skip_reason("emu", False, why, kvm, True) is None
    assert accel_skip_reason("kvm", False, why, None, False) is None
    assert accel_skip_reason("kvm", False, why, no, False) == KVM_ONLY_SKIP + ": " + no


# ---------------------------------------------------------------------------
# pytest runs over generated files, conftest.py loaded as the plugin "conftest"

def run_pytest(tmp_path, source, ci, **env):
    d = tmp_path / ("run%d" % len(list(tmp_path.iterdir())))
    d.mkdir()
    (d / "test_generated.py").write_text(textwrap.dedent(source))
    e = dict(os.environ, PYTHONPATH=str(HERE), CI="true" if ci else "")
    e.pop("STRATUS_EMU_PENDING", None)
    e.update(env)
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p",
                        "no:cacheprovider", "-ra", str(d)], cwd=d, env=e,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


ALLOWED = '''
    import pytest

    def test_passes():
        pass

    def test_linux_lane():
        pytest.skip("guest CPL0 not native: the probe says so")

    def test_kvm_only():
        pytest.skip("KVM-only test on a host without KVM: /dev/kvm does not exist")
'''

FORBIDDEN = '''
    import pytest

    def test_passes():
        pass

    def test_not_built():
        pytest.skip("stratus binary not built: build/stratus does not exist")
'''


def test_ci_allows_the_two_reasons(tmp_path):
    rc, out = run_pytest(tmp_path, ALLOWED, ci=True)
    assert rc == 0, out
    assert "2 skipped" in out and "CI skip policy violated" not in out, out


@pytest.mark.parametrize("ci", [True, False])
def test_ci_refuses_any_other_skip(tmp_path, ci):
    rc, out = run_pytest(tmp_path, FORBIDDEN, ci=ci)
    if ci:
        assert rc == 1, out
        assert "CI skip policy violated" in out and "test_not_built" in out, out
    else:
        assert rc == 0, out
    assert "stratus binary not built" in out, out      # the reason is always printed


def test_empty_run_fails(tmp_path):
    rc, out = run_pytest(tmp_path, "x = 1\n", ci=False)
    assert rc == 1, out


PENDING = '''
    import pytest

    @pytest.mark.emu_pending("the decoder lacks CMPXCHG16B")
    def test_pending(accel):
        assert accel == "kvm", "the emu instance ran"

    def test_both(accel):
        assert accel in ("emu", "kvm")
'''


def test_emu_pending_skips_the_emu_instance(tmp_path):
    rc, out = run_pytest(tmp_path, PENDING, ci=True)
    assert rc == 0, out
    assert ("KVM-only test on a host without KVM: emu does not run this yet"
            " (the decoder lacks CMPXCHG16B)") in out, out
    assert "emu_pending: 1 [emu] test(s) skipped" in out, out
    if kvm_problem():
        assert "3 skipped" in out and "1 passed" in out, out       # and both [kvm]
    else:
        assert "1 skipped" in out and "3 passed" in out, out


def test_emu_pending_run_ignores_the_marker(tmp_path):
    rc, out = run_pytest(tmp_path, PENDING, ci=True, STRATUS_EMU_PENDING="run")
    assert rc == 1, out
    assert "test_pending[emu]" in out and "the emu instance ran" in out, out


def test_emu_pending_needs_a_reason(tmp_path):
    rc, out = run_pytest(tmp_path, '''
        import pytest

        @pytest.mark.emu_pending
        def test_pending(accel):
            pass
    ''', ci=False)
    assert rc == 1 and "emu_pending needs a reason" in out, out


def test_kvm_only_marker(tmp_path):
    rc, out = run_pytest(tmp_path, '''
        import pytest

        @pytest.mark.kvm
        def test_kvm_only():
            pass

        @pytest.mark.parametrize("accel", ["kvm"])
        def test_pinned_to_kvm(accel):
            pass
    ''', ci=True)
    assert rc == 0, out
    if kvm_problem():
        assert "2 skipped" in out, out
        assert "KVM-only test on a host without KVM: %s" % kvm_problem() in out, out
    else:
        assert "2 passed" in out, out


def test_ids_and_accel_markers(tmp_path):
    """Each guest test is one parameter, ids [emu] and [kvm]; -m accel_emu selects
    the emu instances."""
    d = tmp_path / "ids"
    d.mkdir()
    (d / "test_generated.py").write_text("def test_x(accel):\n    pass\n")
    e = dict(os.environ, PYTHONPATH=str(HERE), CI="")
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p",
                        "no:cacheprovider", "--collect-only", "-q", str(d)],
                       cwd=d, env=e, capture_output=True, text=True, timeout=60)
    assert "test_generated.py::test_x[emu]" in p.stdout, p.stdout
    assert "test_generated.py::test_x[kvm]" in p.stdout, p.stdout
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p",
                        "no:cacheprovider", "--collect-only", "-q", "-m", "accel_emu", str(d)],
                       cwd=d, env=e, capture_output=True, text=True, timeout=60)
    assert "test_x[emu]" in p.stdout and "test_x[kvm]" not in p.stdout, p.stdout


def test_conftest_accels():
    assert conftest.ACCELS == ("emu", "kvm")
