"""How a Stratus process ends: guest poweroff/reboot, QMP quit, signals,
-daemonize/-pidfile, and -S + cont."""

import os
import signal
import time

import pytest

from stratus_vm import QMP_GREETING, PROMPT, file_mode, proc_cmdline, pid_alive


def assert_cleaned_up(vm):
    leftovers = [p for p in (vm.qmp_path, vm.console_path, vm.pidfile)
                 if p and os.path.lexists(p)]
    assert not leftovers, "left behind after exit: %s" % leftovers


def test_qmp_greeting_and_quit(make_vm):
    vm = make_vm()
    vm.boot()
    assert vm.qmp.greeting_raw == QMP_GREETING
    resp = vm.qmp.execute("quit")
    assert resp == {"return": {}}
    assert vm.wait() == 0
    assert_cleaned_up(vm)


def _run_until_exit(vm, cmd):
    """Send cmd; return what the console printed until the VMM exited."""
    vm.console.write(cmd + "\n")
    status = vm.wait(15)
    vm.console.drain(0.2)
    return status


@pytest.mark.parametrize("cmd,marker", [("poweroff", "poweroff=requested"),
                                        ("reboot", "reboot=requested")])
def test_guest_power_commands_exit_0(make_vm, cmd, marker):
    vm = make_vm(smp=2)
    vm.boot()
    status = _run_until_exit(vm, cmd)
    assert status == 0, "exit status %s after guest %s" % (status, cmd)
    assert marker in vm.console.transcript
    assert "status=error" not in vm.console.transcript.split(marker, 1)[1], \
        "guest reports its %s request was ignored" % cmd
    assert_cleaned_up(vm)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_signal_exits_0(make_vm, sig):
    vm = make_vm(smp=2)
    vm.boot()
    vm.qmp.close()       # no client attached: the server must still clean up
    vm.send_signal(sig)
    assert vm.wait() == 0
    assert_cleaned_up(vm)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=lambda s: s.name)
def test_signal_daemonized_removes_pidfile(make_vm, tmp_path, sig):
    pidfile = tmp_path / "vm.pid"
    vm = make_vm(daemonize=True, pidfile=pidfile)
    vm.boot()
    assert pid_alive(vm.pid)
    vm.send_signal(sig)
    status = vm.wait()
    assert status in (0, None), "daemon exit status %s" % status
    if status is None:
        pytest.fail("could not reap the daemon to see its exit status "
                    "(PR_SET_CHILD_SUBREAPER failed?)")
    assert_cleaned_up(vm)


def test_daemonize_pidfile(make_vm, tmp_path):
    pidfile = tmp_path / "stratus.pid"
    vm = make_vm(daemonize=True, pidfile=pidfile, smp=2)
    vm.launch()
    assert vm.launcher_status == 0
    assert vm.pid != vm.proc.pid, "pidfile holds the launcher's pid, not the daemon's"
    assert pid_alive(vm.pid)
    cmd = proc_cmdline(vm.pid)
    assert cmd and os.path.samefile(cmd[0], vm.binary), cmd
    assert file_mode(pidfile) == 0o600, "pidfile mode %o" % file_mode(pidfile)
    with open(pidfile) as f:
        assert f.read().strip() == str(vm.pid)
    # the daemon has detached its stdio
    for fd in (0, 1, 2):
        target = os.readlink("/proc/%d/fd/%d" % (vm.pid, fd))
        assert target == "/dev/null", "daemon fd %d -> %s" % (fd, target)
    vm.console.wait_prompt()
    assert vm.run("echo daemon").get("text") == "daemon"
    assert vm.qmp.execute("quit") == {"return": {}}
    assert vm.wait() == 0
    assert_cleaned_up(vm)


def test_freeze_S_then_cont(make_vm):
    vm = make_vm(freeze=True, smp=2)
    vm.launch()
    # Poke the console too: if the vCPUs ran, the guest would answer.
    got = vm.console.expect_silence(3.0, poke=(1.0, "\r"))
    assert PROMPT not in got and "stratus-testguest" not in got, \
        "guest ran although started with -S: %r" % got
    assert vm.is_running()
    assert vm.qmp.execute("cont") == {"return": {}}
    vm.console.wait_prompt()
    info = vm.info()
    assert info["online"] == 2
    assert vm.quit() == 0


def test_quit_while_frozen(make_vm):
    vm = make_vm(freeze=True)
    vm.launch()
    assert vm.quit() == 0
    assert_cleaned_up(vm)


def test_console_reconnect(make_vm):
    """The serial socket server accepts a new client after the first left."""
    vm = make_vm()
    vm.boot()
    from stratus_vm import Console, connect_unix
    vm.console._keep[0].close()
    s = connect_unix(vm.console_path, 5)
    vm.console = Console(s, None, "console(reconnected)", vm.describe)
    vm.console.wait_prompt(poke_interval=0.5)
    assert vm.run("echo again").get("text") == "again"
