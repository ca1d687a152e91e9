"""The very same test-guest bzImage boots on QEMU's microvm (a second, independent
implementation of the x86 boot protocol) and answers `info`."""

import pytest

from stratus_vm import QemuVm

pytestmark = [pytest.mark.kvm, pytest.mark.qemu]


@pytest.mark.parametrize("console", ["stdio", "socket"])
def test_qemu_boots_test_guest(make_vm, qemu_bin, console):
    vm = make_vm(cls=QemuVm, binary=qemu_bin, mem="256", smp=2, console=console,
                 append="console=ttyS0 crosscheck=qemu")
    vm.boot()
    info = vm.info()
    assert info["cpus"] == 2, info["raw"]
    assert info["online"] == 2, info["raw"]
    assert "crosscheck=qemu" in info["cmdline"]
    assert 254 << 20 <= info["mem_total"] <= 256 << 20, info["mem_total"]
    r = vm.run("echo cross-check")
    assert r.ok and r.get("text") == "cross-check"
    assert vm.quit() == 0
