#!/usr/bin/env python3
"""Fail when the seccomp ioctl request table and the code disagree.

src/os/seccomp-ioctl.c lists the ioctl requests the filter allows. A request
the code makes but the table lacks kills the VMM the first time it runs once
the filter is on, and the KVM ones cannot be caught by a functional run on a
host without /dev/kvm; a request in the table that nothing makes any more
widens the filter for nothing. So, both ways:

* every request named in the second argument of an ioctl call in src/
  (`ioctl(`, and the wrappers whose name ends in `ioctl(` or `ioctl_retry(`)
  is in the table, or in BEFORE_FILTER below, with the reason it is made
  before the filter is installed;
* every request in the table is made by the code, or in LIBC below (made by
  glibc functions Stratus calls, not by name).

Usage: check-ioctl-lists.py [SRC_DIR]   (default: src/ next to this script)
Exit status 1 and one line per disagreement.
"""
import os
import re
import sys

# Made by set-up code only, before confine() installs the filter.
BEFORE_FILTER = {
    "KVM_GET_API_VERSION": "accel_kvm_usable(), kvm_init()",
    "KVM_CREATE_VM": "kvm_init()",
    "KVM_GET_VCPU_MMAP_SIZE": "kvm_init()",
    "KVM_CHECK_EXTENSION": "kvm_init(): the answers are cached in KvmState",
    "KVM_SET_TSS_ADDR": "kvm_init()",
    "KVM_SET_IDENTITY_MAP_ADDR": "kvm_init()",
    "KVM_CREATE_IRQCHIP": "kvm_init()",
    "KVM_CREATE_PIT2": "kvm_init()",
    "KVM_GET_SUPPORTED_CPUID": "kvm_x86_vm_init()",
    "KVM_GET_MSR_INDEX_LIST": "kvm_x86_vm_init()",
    "KVM_CREATE_VCPU": "cpus_create(): vCPUs are not hot-plugged",
    "KVM_SET_CPUID2": "kvm_x86_vcpu_init(), from KVM_CREATE_VCPU's caller",
    "VHOST_VSOCK_SET_GUEST_CID": "vhost-vsock realize",
}

# In the table though no code names them: glibc's isatty(), openpty(), tcsetattr().
LIBC = {"TCGETS", "TCSETS", "TCSETSF", "TIOCGPTN", "TIOCSPTLCK", "TIOCGPTPEER"}

CALL_RE = re.compile(r"\b\w*ioctl(?:_retry)?\s*\(")
TABLE_RE = re.compile(r"^\s*R\((\w+),")
NAME_RE = re.compile(r"\b[A-Z][A-Z0-9_]{3,}\b")


def second_arg(text):
    """The second top-level argument of the call whose '(' starts text, or None."""
    depth, args, cur = 0, [], ""
    for ch in text:
        if ch in "([":
            depth += 1
            if depth == 1:
                continue
        elif ch in ")]":
            depth -= 1
            if depth == 0:
                args.append(cur)
                break
        elif ch == "," and depth == 1:
            args.append(cur)
            cur = ""
            continue
        cur += ch
    return args[1] if len(args) > 1 else None


def used_requests(src):
    """{request: first "file:line" that makes it}, outside the table's own files."""
    used = {}
    for root, _, files in os.walk(src):
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(root, name), src)
            if not name.endswith(".c") or rel.startswith("os/seccomp"):
                continue
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    for m in CALL_RE.finditer(line):
                        arg = second_arg(line[m.end() - 1:])
                        for req in NAME_RE.findall(arg or ""):
                            used.setdefault(req, "src/%s:%d" % (rel, lineno))
    return used


def table_requests(src):
    with open(os.path.join(src, "os", "seccomp-ioctl.c"), encoding="utf-8") as f:
        return {m.group(1) for m in map(TABLE_RE.match, f) if m}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    used, table = used_requests(src), table_requests(src)
    bad = []
    for req, where in sorted(used.items()):
        if req not in table and req not in BEFORE_FILTER:
            bad.append("%s: ioctl %s is on no seccomp list (src/os/seccomp-ioctl.c); "
                       "add it, or to BEFORE_FILTER if only set-up code makes it"
                       % (where, req))
    for req in sorted(table - set(used) - LIBC):
        bad.append("src/os/seccomp-ioctl.c: %s is allowed but nothing makes it" % req)
    for req in sorted(set(BEFORE_FILTER) - set(used)):
        bad.append("check-ioctl-lists: %s is in BEFORE_FILTER but nothing makes it" % req)
    for b in bad:
        print(b)
    if bad:
        return 1
    print("check-ioctl-lists: ok (%d requests made, %d allowed)" % (len(used), len(table)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
