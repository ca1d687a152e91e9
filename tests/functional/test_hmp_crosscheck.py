"""HMP through human-monitor-command on Stratus and on QEMU 7.2's microvm
(qemu-system-x86_64, Debian's) in the same state: the same guest, vCPUs,
memory, name and balloon, the same sequence of commands; each answer must be
QEMU's text (issue 14: "each printing what QEMU prints for the same state").
Only vCPU thread ids are normalised. Commands whose output depends on the
board's device set (info qtree, info mtree) or on the VMM's version (info
version) are covered by the golden transcripts instead (golden/hmp-*.txt).
"""

import re

import pytest

from stratus_vm import QemuVm

pytestmark = pytest.mark.qemu

# in order, on one connection; each answer compared
SCRIPT = [
    "info status",
    "info name",
    "info cpus",
    "cpu 1",
    "info balloon",
    "info block",
    "info network",
    "help stop",
    "help info status",
    "help nosuch",
    "info nosuch",
    "frobnicate",
    "stop",
    "info status",
    "c",
    "info status",
    "device_del nosuch",
    "device_del",
    "info kvm",
    "info uuid",
    "info migrate",
    "system_reset",
    "info status",
]


def hmp_answers(vm):
    vm.boot()
    out = []
    for line in SCRIPT:
        r = vm.qmp.execute("human-monitor-command", {"command-line": line})
        text = r["return"] if "return" in r else "error: %s: %s" % (
            r["error"]["class"], r["error"]["desc"])
        out.append((line, re.sub(r"thread_id=\d+", "thread_id=N", text)))
    assert vm.quit() == 0
    return out


def test_hmp_matches_qemu(make_vm, qemu_bin, accel):
    common = dict(smp=2, extra_args=["-name", "hmpvm", "-device",
                                     "virtio-balloon-device"])
    stratus = hmp_answers(make_vm(name="stratus", **common))
    qemu = hmp_answers(make_vm(cls=QemuVm, binary=qemu_bin, mem="256", name="qemu",
                               **common))
    assert stratus[0] == ("info status", "VM status: running\r\n"), stratus[0]
    bad = ["%r:\n  qemu:    %r\n  stratus: %r" % (line, q, s)
           for (line, s), (_, q) in zip(stratus, qemu) if s != q]
    assert not bad, "HMP answers differ from QEMU's:\n" + "\n".join(bad)
