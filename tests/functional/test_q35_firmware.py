"""Firmware boot on q35 (-drive if=pflash; src/hw/block/pflash_cfi01.c,
src/hw/x86/x86-firmware.c, src/hw/x86/q35-chipset.c, docs/q35.md "Firmware boot").

* Debian's OVMF (OVMF_CODE_4M.fd read-only, a copy of OVMF_VARS_4M.fd) boots to
  its UEFI shell on the serial port, on Stratus (-accel emu) and on QEMU's q35
  (-accel tcg) with the same images in the same test: both print the shell's
  banner and its `Shell>` prompt. The times to the prompt are printed (no timed
  assert; scripts/bench/boot-firmware compares them).
* The variable store file gets OVMF's boot variables (BootOrder) on both VMMs;
  system_reset restarts the firmware, which boots to its shell again.
* -kernel through OVMF: Debian's kernel (EFI stub) started by OVMF from the
  fw_cfg kernel items, with the machine's ACPI tables installed by OVMF from
  etc/table-loader (FACP, DSDT, FACS, APIC, MCFG with Stratus's OEM id); it
  runs to the "no root" panic (no initrd), on Stratus and on QEMU.
* Errors: a missing image, an image of a bad size, units other than 0 and 1,
  unit 1 without unit 0, images together over 8 MiB, a -kernel that is not a
  bzImage or is missing: each one `stratus: error:` line and exit status 1.
"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from test_cmdline import argv_of, check_error_exit

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
MILESTONE = "Shell> "
# Generous: the software CPU on a loaded 2-core host; a stuck boot fails here.
BOOT_LIMIT = 600

pytestmark = pytest.mark.covers(options=["drive", "machine"])


def ovmf_images(tmp_path, tag):
    if not (os.path.exists(OVMF_CODE) and os.path.exists(OVMF_VARS)):
        pytest.fail("Debian's ovmf is not installed (scripts/setup-deps.sh installs it)")
    vars_copy = tmp_path / ("vars-%s.fd" % tag)
    shutil.copy(OVMF_VARS, vars_copy)
    return ["-drive", "if=pflash,format=raw,readonly=on,file=%s" % OVMF_CODE,
            "-drive", "if=pflash,format=raw,file=%s" % vars_copy]


def boot_to_shell(argv, serial, milestone=MILESTONE):
    """Runs argv until the serial file shows milestone; returns (seconds, text)."""
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    text = ""
    try:
        while time.monotonic() - start < BOOT_LIMIT and p.poll() is None:
            text = serial.read_text(errors="replace") if serial.exists() else ""
            if milestone in text:
                return time.monotonic() - start, text
            time.sleep(0.2)
        err = p.stderr.read().decode(errors="replace") if p.poll() is not None else ""
        pytest.fail("no %r within %ds (exit %s)\nstderr: %s\nserial tail: %r"
                    % (milestone, BOOT_LIMIT, p.poll(), err, text[-2000:]))
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stderr.close()


@pytest.mark.qemu
@pytest.mark.test_timeout(2 * BOOT_LIMIT + 60)
def test_ovmf_boots_to_shell_on_stratus_and_qemu(stratus, qemu_bin, tmp_path):
    serial = tmp_path / "stratus-serial.log"
    argv = [str(stratus), "-machine", "q35", "-accel", "emu", "-m", "512M",
            "-qmp", "unix:%s/qmp.sock,server,nowait" % tmp_path,
            "-serial", "file,path=%s" % serial] + ovmf_images(tmp_path, "stratus")
    t_stratus, out = boot_to_shell(argv, serial)
    qserial = tmp_path / "qemu-serial.log"
    qargv = [qemu_bin, "-machine", "q35", "-accel", "tcg", "-m", "512M", "-display", "none",
             "-net", "none", "-monitor", "none", "-serial", "file:%s" % qserial] + \
        ovmf_images(tmp_path, "qemu")
    t_qemu, qout = boot_to_shell(qargv, qserial)
    for text in (out, qout):
        assert "UEFI Interactive Shell" in text, text[-2000:]
        assert "BdsDxe: starting Boot" in text and "EFI Internal Shell" in text, text[-2000:]
    # Both firmwares wrote their boot variables to the user's variable store file.
    pristine = open(OVMF_VARS, "rb").read()
    for tag in ("stratus", "qemu"):
        data = (tmp_path / ("vars-%s.fd" % tag)).read_bytes()
        assert len(data) == len(pristine) and data != pristine, tag
        assert "BootOrder".encode("utf-16-le") in data, tag
    print("\nOVMF to %r: Stratus %.1f s, QEMU %.1f s" % (MILESTONE, t_stratus, t_qemu))


def q35_opts():
    return {"-machine": ["q35"], "-m": ["256M"], "-accel": ["emu"],
            "-qmp": ["unix:{SOCK}/qmp.sock,server,nowait"]}


def image(path, size):
    path.write_bytes(b"\xff" * size)
    return str(path)


@pytest.mark.parametrize("drives, extra, message", [
    (["if=pflash,format=raw,file={DIR}/absent.fd"], [],
     "-drive if=pflash,unit=0: Could not open '{DIR}/absent.fd': No such file or directory"),
    (["if=pflash,format=raw,file={DIR}/odd.fd"], [],
     "-drive if=pflash,unit=0: firmware image '{DIR}/odd.fd' has invalid size 5000"),
    (["if=pflash,format=raw,file=/dev/null"], [],
     "-drive if=pflash,unit=0: firmware image '/dev/null' has invalid size 0"),
    (["if=pflash,format=raw,unit=2,file={DIR}/code.fd"], [],
     "-drive if=pflash,unit=2: only units 0 (the firmware code) and 1"),
    (["if=pflash,format=raw,unit=1,file={DIR}/code.fd"], [],
     "-drive if=pflash,unit=1: unit 0 (the firmware code) is missing"),
    (["if=pflash,format=raw,file={DIR}/code.fd", "if=pflash,format=raw,unit=0,file={DIR}/code.fd"],
     [], "-drive if=pflash,unit=0: unit already in use"),
    (["if=pflash,format=raw,file={DIR}/big.fd", "if=pflash,format=raw,file={DIR}/code.fd"], [],
     "-drive if=pflash: combined size of system firmware exceeds 8388608 bytes"),
    (["if=pflash,format=raw,file={DIR}/code.fd"], ["-kernel", "{DIR}/code.fd"],
     "-kernel: '{DIR}/code.fd' is not a bzImage; booting through the firmware needs one"),
    (["if=pflash,format=raw,file={DIR}/code.fd"], ["-kernel", "{DIR}/absent"],
     "-kernel: could not load kernel '{DIR}/absent'"),
])
def test_pflash_errors(stratus, tmp_path, drives, extra, message):
    image(tmp_path / "odd.fd", 5000)
    image(tmp_path / "code.fd", 64 << 10)
    image(tmp_path / "big.fd", 8 << 20)
    tail = []
    for d in drives:
        tail += ["-drive", d]
    subst = {"SOCK": tmp_path, "DIR": tmp_path}
    argv = [str(stratus)] + argv_of(q35_opts(), tail + extra, subst)
    check_error_exit(argv, [message.format(**subst)])


NO_ROOT = "VFS: Unable to mount root fs"


def debian_kernel():
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    if not kernels:
        pytest.fail("no /boot/vmlinuz-*: scripts/setup-deps.sh installs linux-image-cloud-amd64")
    return kernels[-1]


@pytest.mark.qemu
@pytest.mark.test_timeout(2 * BOOT_LIMIT + 60)
def test_kernel_through_ovmf_on_stratus_and_qemu(stratus, qemu_bin, tmp_path):
    kernel = debian_kernel()
    serial = tmp_path / "stratus-serial.log"
    argv = [str(stratus), "-machine", "q35", "-accel", "emu", "-m", "512M",
            "-qmp", "unix:%s/qmp.sock,server,nowait" % tmp_path,
            "-serial", "file,path=%s" % serial, "-kernel", kernel,
            "-append", "console=ttyS0"] + ovmf_images(tmp_path, "stratus")
    t_stratus, out = boot_to_shell(argv, serial, NO_ROOT)
    qserial = tmp_path / "qemu-serial.log"
    qargv = [qemu_bin, "-machine", "q35", "-accel", "tcg", "-m", "512M", "-display", "none",
             "-net", "none", "-monitor", "none", "-serial", "file:%s" % qserial,
             "-kernel", kernel, "-append", "console=ttyS0"] + ovmf_images(tmp_path, "qemu")
    t_qemu, qout = boot_to_shell(qargv, qserial, NO_ROOT)
    for text in (out, qout):
        assert "Linux version" in text and "efi: EFI v2.70 by EDK II" in text, text[-3000:]
        assert "Command line: console=ttyS0" in text, text[-3000:]
        assert re.search(r"ACPI: FACP 0x[0-9A-F]+ ", text), text[-3000:]
    # Stratus's own tables, placed by OVMF through etc/table-loader.
    for sig in ("FACP", "DSDT", "APIC", "MCFG"):
        assert re.search(r"ACPI: %s 0x[0-9A-F]+ [0-9A-F]+ \(v0\d STRATS STRATUS" % sig, out), \
            (sig, out[-3000:])
    assert re.search(r"ACPI: FACS 0x[0-9A-F]+ 000040", out), out[-3000:]
    print("\nOVMF + Debian kernel to the no-root panic: Stratus %.1f s, QEMU %.1f s"
          % (t_stratus, t_qemu))


def qmp(sock_path, command):
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock_path))
    f = s.makefile("rw")
    f.readline()
    for c in ({"execute": "qmp_capabilities"}, {"execute": command}):
        f.write(json.dumps(c) + "\n")
        f.flush()
        reply = json.loads(f.readline())
        while "event" in reply:
            reply = json.loads(f.readline())
        assert reply == {"return": {}}, reply
    s.close()


@pytest.mark.test_timeout(3 * BOOT_LIMIT)
def test_system_reset_restarts_the_firmware(stratus, tmp_path):
    """system_reset: the vCPU back at the reset vector, the chipset at power-on; OVMF
    boots to its shell a second time (with the variables it wrote the first time)."""
    serial = tmp_path / "serial.log"
    argv = [str(stratus), "-machine", "q35", "-accel", "emu", "-m", "512M",
            "-qmp", "unix:%s/qmp.sock,server,nowait" % tmp_path,
            "-serial", "file,path=%s" % serial] + ovmf_images(tmp_path, "reset")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for banners, reset in ((1, True), (2, False)):
            start = time.monotonic()
            while serial_count(serial, MILESTONE) < banners:
                assert p.poll() is None and time.monotonic() - start < BOOT_LIMIT, \
                    serial.read_text(errors="replace")[-2000:]
                time.sleep(0.2)
            if reset:
                qmp(tmp_path / "qmp.sock", "system_reset")
    finally:
        p.kill()
        p.wait()
    assert serial_count(serial, "UEFI Interactive Shell") == 2


def serial_count(serial, text):
    return serial.read_text(errors="replace").count(text) if serial.exists() else 0
