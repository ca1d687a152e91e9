"""QMP robustness against a booted test guest: hostile or broken input must get
the documented answer (docs/qmp.md "Errors in the input", "Rate limiting"), one
reply per request and in order, and afterwards the monitor still answers
query-status and the guest still answers on its console."""

import json
import os
import socket
import time

import pytest

from stratus_vm import QmpClient

THROTTLED = {"error": {"class": "OperationThrottled",
                       "desc": "More than 100 requests received during 1 second"}}


def generic(desc):
    return {"error": {"class": "GenericError", "desc": desc}}


def assert_alive(vm, client=None):
    """The monitor answers (on a fresh connection: a new bucket) and so does the guest."""
    if client is None:
        vm.connect_qmp_client()
        client = vm.qmp
    resp = client.execute("query-status")
    assert resp == {"return": {"running": True, "singlestep": False, "status": "running"}}, resp
    r = vm.run("echo still-alive")
    assert r.ok and r.get("text") == "still-alive", r
    assert vm.is_running()


def recv_n(q, n, timeout=20.0):
    """n messages (events are not expected here)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        out.append(q.recv(max(0.1, deadline - time.monotonic())))
    return out


def assert_quiet(q, seconds=0.3):
    q.sock.settimeout(seconds)
    try:
        data = q.buf or q.sock.recv(65536)
    except socket.timeout:
        data = b""
    finally:
        q.sock.settimeout(None)
    assert not data, "unexpected output: %r" % data


MALFORMED = [
    # (bytes sent, the replies)
    (b"{]\n", [generic("JSON parse error, expecting value")]),
    (b'{"execute": }\n', [generic("JSON parse error, expecting value")]),
    (b'{"execute" "stop"}\n', [generic("JSON parse error, missing : in object pair")]),
    (b'{"execute":"stop",}\n', [generic("JSON parse error, expecting value")]),
    (b'{"a":1 "b":2}\n', [generic("JSON parse error, expected separator in dict")]),
    (b"{1:2}\n", [generic("JSON parse error, key is not a string in object")]),
    (b'{"a":nul}\n', [generic("JSON parse error, invalid keyword 'nul'")]),
    (b'{"a":1,"a":2}\n', [generic("JSON parse error, duplicate key")]),
    (b'{"execute":"\\q"}\n', None),           # bad escape: some parse error
    (b"]\n", None),
    (b"}}}}\n", None),
]


@pytest.mark.parametrize("data,replies", MALFORMED, ids=lambda x: repr(x)[:30])
def test_malformed_json(booted_vm, data, replies):
    q = booted_vm.qmp
    q.send_raw(data)
    q.send_raw(b'{"execute":"query-name","id":"after"}')
    got = []
    while True:
        r = q.recv()
        if r.get("id") == "after":
            break
        got.append(r)
    assert r == {"return": {}, "id": "after"}
    assert got, "no error reply for %r" % data
    for e in got:
        assert set(e) == {"error"} and e["error"]["class"] == "GenericError", e
        assert e["error"]["desc"].startswith("JSON parse error"), e
    if replies is not None:
        assert got == replies
    assert_alive(booted_vm, q)


def test_truncated_object_then_reset_byte(booted_vm):
    """An object that is never closed gets no reply; a control character (ESC)
    resets the lexer (QEMU's documented way): one parse error for the junk, then
    the next request is served."""
    q = booted_vm.qmp
    q.send_raw(b'{"execute":"query-status","arguments":{"a":[1,2')
    assert_quiet(q, 0.3)
    q.send_raw(b'\x1b{"execute":"query-name","id":1}')
    assert q.recv() == generic("JSON parse error, stray '\x1b'")
    assert q.recv() == {"return": {}, "id": 1}
    assert_alive(booted_vm, q)


def test_truncated_object_then_disconnect(booted_vm):
    """A client that leaves in the middle of a request: the next client starts
    with a clean lexer."""
    q = booted_vm.qmp
    q.send_raw(b'{"execute":"quit","argu')
    q.close()
    assert_alive(booted_vm)


def test_1mib_message(booted_vm):
    """One error when the 8 KiB limit is crossed, the rest of the value skipped,
    the next request served; the VMM does not store it."""
    q = booted_vm.qmp
    big = b'{"execute":"query-status","arguments":{"x":"' + b"A" * (1 << 20) + b'"},"id":1}'
    q.send_raw(big)
    q.send_raw(b'{"execute":"query-name","id":2}')
    assert q.recv() == generic("The socket message is too long.")
    assert q.recv() == {"return": {}, "id": 2}
    # nesting inside a big message is not looked at either
    q.send_raw(b"[" * 20000 + b"]" * 20000)
    q.send_raw(b'{"execute":"query-name","id":3}')
    r = q.recv()
    assert r["error"]["class"] == "GenericError", r
    assert r["error"]["desc"] in ("The socket message is too long.",
                                  "JSON nesting depth limit exceeded"), r
    assert q.recv() == {"return": {}, "id": 3}
    assert_alive(booted_vm, q)


def test_message_just_below_the_limit(booted_vm):
    q = booted_vm.qmp
    head = b'{"execute":"query-name","arguments":{"x":"'
    tail = b'"},"id":1}'
    msg = head + b"a" * (8192 - len(head) - len(tail)) + tail
    assert len(msg) == 8192
    q.send_raw(msg)
    # query-name is not lenient: the (accepted) message gets an argument error
    assert q.recv() == {"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"},
                        "id": 1}
    q.send_raw(msg[:-1] + b" }")          # 8193 bytes
    assert q.recv() == generic("The socket message is too long.")
    assert_alive(booted_vm, q)


@pytest.mark.parametrize("data,desc", [
    # 0xFE/0xFF never occur in UTF-8: QEMU's lexer stops at them (the token so far is
    # the "stray" text, its bad byte shown as U+FFFD); other bad sequences reach the parser
    (b'{"execute":"\xff\xfe"}\n', "JSON parse error, stray '\"\ufffd'"),
    (b'{"execute":"\xc0\xaf"}\n', "JSON parse error, invalid UTF-8 sequence in string"),
    (b'{"execute":"\xed\xa0\x80"}\n', "JSON parse error, invalid UTF-8 sequence in string"),
    (b"{\xff\n", "JSON parse error, stray '\ufffd'"),
], ids=["ff-fe", "overlong", "surrogate", "stray-ff"])
def test_invalid_utf8(booted_vm, data, desc):
    q = booted_vm.qmp
    q.send_raw(data)
    q.send_raw(b'{"execute":"query-name","id":"marker"}')
    got = []
    while True:
        r = q.recv()
        if r.get("id") == "marker":
            break
        got.append(r)
    assert r == {"return": {}, "id": "marker"}
    # the first error is the documented one; the lexer may flag the rest of the junk
    assert got and got[0] == generic(desc), got
    assert all(e["error"]["desc"].startswith("JSON parse error") for e in got), got
    assert_alive(booted_vm, q)


def test_nul_bytes(booted_vm):
    q = booted_vm.qmp
    # a NUL between requests is a stray control character; as in QEMU (which prints
    # the token as a C string) the NUL itself does not appear in the text
    q.send_raw(b'\x00{"execute":"query-name","id":1}')
    got = recv_n(q, 2)
    assert got[0] == generic("JSON parse error, stray ''"), got
    assert got[1] == {"return": {}, "id": 1}, got
    # inside a string: a raw NUL and the \u0000 escape are both refused
    q.send_raw(b'{"execute":"query\x00name"}\n')
    r = q.recv()
    assert r["error"]["class"] == "GenericError" and r["error"]["desc"].startswith("JSON parse error")
    q.send_raw(b'{"execute":"query-name","id":"m"}')
    while True:      # the lexer may also flag what follows the NUL; drain to the marker
        r = q.recv()
        if r.get("id") == "m":
            break
        assert r["error"]["desc"].startswith("JSON parse error"), r
    q.send_raw(b'{"execute":"query\\u0000name"}')
    assert q.recv() == generic("JSON parse error, \\u0000 is not a valid Unicode character")
    assert_alive(booted_vm, q)


@pytest.mark.parametrize("depth,ok", [(1000, True), (1025, False), (100000, False)])
def test_deep_nesting(booted_vm, depth, ok):
    q = booted_vm.qmp
    inner = b'{"a":' * (depth - 1) + b"1" + b"}" * (depth - 1)
    msg = b'{"execute":"query-name","arguments":{"x":' + inner + b'}}' if depth < 5000 else \
        b"[" * depth + b"]" * depth
    q.send_raw(msg)
    q.send_raw(b'{"execute":"query-name","id":1}')
    r = q.recv()
    if ok:
        assert r == generic("Parameter 'x' is unexpected"), r
    else:
        assert r in (generic("JSON nesting depth limit exceeded"),
                     generic("The socket message is too long.")), r
    assert q.recv() == {"return": {}, "id": 1}
    assert_alive(booted_vm, q)


@pytest.mark.parametrize("value", [b"[]", b"[1,2]", b"0", b"-1.5e3", b"null", b"true",
                                   b'"str"', b"[{}]"])
def test_non_object_values(booted_vm, value):
    q = booted_vm.qmp
    q.send_raw(value + b"\n")
    assert q.recv() == generic("QMP input must be a JSON object")
    assert_alive(booted_vm, q)


@pytest.mark.parametrize("req,desc", [
    ({"execute": 1}, "QMP input member 'execute' must be a string"),
    ({"execute": {}}, "QMP input member 'execute' must be a string"),
    ({"execute": "getfd", "arguments": 5}, "QMP input member 'arguments' must be an object"),
    ({"execute": "getfd", "arguments": {"fdname": []}},
     "Invalid parameter type for 'fdname', expected: string"),
    ({"execute": "getfd", "arguments": {"fdname": True}},
     "Invalid parameter type for 'fdname', expected: string"),
    ({"execute": "human-monitor-command",
      "arguments": {"command-line": "info status", "cpu-index": 1.5}},
     "Invalid parameter type for 'cpu-index', expected: integer"),
    ({"execute": "qom-list-types", "arguments": {"implements": 0}},
     "Invalid parameter type for 'implements', expected: string"),
    ({"execute": "quit", "arguments": {"force": True}}, "Parameter 'force' is unexpected"),
    ({"execute": "system_reset", "arguments": {"x": None}}, "Parameter 'x' is unexpected"),
], ids=lambda x: json.dumps(x)[:40] if isinstance(x, dict) else None)
def test_wrong_types(booted_vm, req, desc):
    q = booted_vm.qmp
    req = dict(req, id="w")
    q.send_raw(json.dumps(req))
    assert q.recv() == {"error": {"class": "GenericError", "desc": desc}, "id": "w"}
    # nothing ran: in particular quit/system_reset did not happen
    assert_alive(booted_vm, q)


def check_burst(replies, n, elapsed):
    """One reply per request, in order; each a return or OperationThrottled; the
    number admitted fits a 100/s leaky bucket over `elapsed` seconds."""
    assert [r.get("id") for r in replies] == list(range(n))
    ok = 0
    for r in replies:
        body = {k: v for k, v in r.items() if k != "id"}
        if "return" in body:
            ok += 1
        else:
            assert body == THROTTLED, r
    # the first 100 always pass; then one more per 10 ms at most
    assert all("return" in r for r in replies[:100]), "throttled within the first 100"
    assert ok <= 100 + int(elapsed * 100) + 1, (ok, elapsed)
    return ok


def test_1000_commands_in_one_write(booted_vm):
    q = booted_vm.qmp
    n = 1000
    data = b"".join(b'{"execute":"query-status","id":%d}' % i for i in range(n))
    t0 = time.monotonic()
    q.send_raw(data)
    replies = recv_n(q, n)
    elapsed = time.monotonic() - t0
    ok = check_burst(replies, n, elapsed)
    assert ok < n, "nothing was throttled"
    assert_quiet(q)
    # the same connection keeps working once the bucket has drained
    time.sleep(1.1)
    assert q.execute("query-status", id="later") == {
        "return": {"running": True, "singlestep": False, "status": "running"}, "id": "later"}
    assert_alive(booted_vm, q)


def test_200_commands_in_one_second(booted_vm):
    """Paced at 5 ms: the burst of 100 passes, afterwards about one in two."""
    q = booted_vm.qmp
    n = 200
    t0 = time.monotonic()
    for i in range(n):
        q.send_raw(b'{"execute":"query-status","id":%d}' % i)
        time.sleep(max(0.0, t0 + (i + 1) * 0.005 - time.monotonic()))
    replies = recv_n(q, n)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0
    check_burst(replies, n, elapsed)
    assert_quiet(q)
    time.sleep(1.1)
    assert_alive(booted_vm, q)


def test_disconnect_mid_reply(booted_vm):
    """Clients that leave while replies are queued (large replies, a small receive
    buffer, many requests) do not hurt the VMM; the next client is served."""
    for i in range(5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if booted_vm.qmp:
            booted_vm.qmp.close()
            booted_vm.qmp = None
        s.connect(booted_vm.qmp_path)
        s.sendall(b'{"execute":"query-qmp-schema"}' * 20 +
                  b'{"execute":"query-commands"}' * 50)
        if i % 2:
            s.recv(100)            # read a part of the greeting only
        s.close()
    # a client that half-closes after sending: replies still written, then EOF ok
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(booted_vm.qmp_path)
    s.sendall(b'{"execute":"query-name"}')
    s.shutdown(socket.SHUT_WR)
    data = b""
    s.settimeout(5)
    while data.count(b"\n") < 2:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.split(b"\r\n")[1] == b'{"return":{}}', data
    assert_alive(booted_vm)


def test_many_connections_in_sequence(booted_vm):
    """Connect/disconnect 50 times (each gets its greeting and a reply)."""
    booted_vm.qmp.close()
    booted_vm.qmp = None
    for i in range(50):
        q = QmpClient(booted_vm.qmp_path, timeout=10)
        assert q.greeting["QMP"]["capabilities"] == []
        assert q.execute("query-name", id=i) == {"return": {}, "id": i}
        q.close()
    assert_alive(booted_vm)


def test_fd_flood_is_closed(booted_vm):
    """SCM_RIGHTS fds that no getfd consumes are not leaked (replaced per read)."""
    q = booted_vm.qmp
    pid = booted_vm.pid
    before = len(os.listdir("/proc/%d/fd" % pid))
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(8)]
    try:
        for i in range(50):
            socket.send_fds(q.sock, [b'{"execute":"query-name","id":%d}' % i], fds)
            assert q.recv() == {"return": {}, "id": i}
    finally:
        for fd in fds:
            os.close(fd)
    q.close()
    booted_vm.qmp = None
    time.sleep(0.2)
    after = len(os.listdir("/proc/%d/fd" % pid))
    assert after <= before + 1, "fd leak: %d -> %d" % (before, after)
    assert_alive(booted_vm)
