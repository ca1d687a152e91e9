"""Firmware boot on q35 (-drive if=pflash; src/hw/block/pflash_cfi01.c,
src/hw/x86/x86-firmware.c, docs/q35.md "Firmware boot").

* Errors: a missing image, an image of a bad size, units other than 0 and 1,
  unit 1 without unit 0, images together over 8 MiB, -kernel with firmware:
  each one `stratus: error:` line and exit status 1.
"""
import pytest

from test_cmdline import argv_of, check_error_exit


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
     "-kernel: direct kernel boot through the firmware is not supported yet on q35"),
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
