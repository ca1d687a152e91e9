"""The `stratus-system-x86_64` name QEMU's libqtest needs (issue 17 item 1, docs/qtest.md).

libqtest takes the target architecture from the part of QTEST_QEMU_BINARY's
name after the last '-', so a test program written for QEMU only starts when
the binary is called `<anything>-system-x86_64`. The build makes that link
next to `stratus` and `meson install` installs it.
"""
import os
import subprocess

import pytest

from conftest import BUILD_DIR, ROOT

# The installed link and qtest programs are what stratus-conformance runs.
pytestmark = pytest.mark.source_tree("the build directory and meson install")

LINK = BUILD_DIR / "stratus-system-x86_64"


def test_link_in_build_dir():
    assert LINK.is_symlink(), LINK
    assert os.readlink(LINK) == "stratus"
    # libqtest's rule: the architecture is what follows the last '-'.
    assert LINK.name.rsplit("-", 1)[1] == "x86_64"
    p = subprocess.run([str(LINK), "-version"], capture_output=True, timeout=10)
    assert p.returncode == 0 and b"Stratus version" in p.stdout, p


def test_qtest_program_through_link():
    """A qtest program of ours, launched the libqtest way, through the link."""
    prog = BUILD_DIR / "tests/qtest/pvpanic-test"
    env = dict(os.environ, QTEST_QEMU_BINARY=str(LINK))
    p = subprocess.run([str(prog), "--tap"], env=env, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stdout.decode()[-2000:] + p.stderr.decode()[-2000:]
    assert b"not ok" not in p.stdout


def test_installed_link(tmp_path):
    dest = tmp_path / "dest"
    p = subprocess.run(["meson", "install", "-C", str(BUILD_DIR), "--no-rebuild",
                        "--destdir", str(dest)], capture_output=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stdout.decode()[-2000:] + p.stderr.decode()[-2000:]
    links = list(dest.rglob("stratus-system-x86_64"))
    assert len(links) == 1, links
    assert os.readlink(links[0]) == "stratus"
    assert (links[0].parent / "stratus").is_file()
