"""The claim server's limits over real HTTP: body and header sizes, idle connections, the
connection limit, rate limits per client address (429 + Retry-After) and the trusted proxy.

The server is waitress with the options `regtui serve` uses (in a thread, or `regtui serve`
itself in a subprocess); time moves through ``regtui.core.clock``, never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time

import pytest

from regtui.core import clock
from regtui.core.errors import UsageError
from regtui.core.services import invitations
from regtui.web import limits
from regtui.web.app import LINK_POSTS, WRONG_LINKS
from regtui.web.limits import RateLimit, Rule, ServerLimits, client_key
from test_web import claim_fields, dump, make_pool, running, token_of

NOW = dt.datetime(2027, 1, 31, 9, 0, 0)
BIG = 200 * 1024 * 1024


@pytest.fixture
def pinned():
    clock.set_now(NOW)
    yield
    clock.set_now(None)


def move(**delta) -> None:
    clock.set_now(clock.now() + dt.timedelta(**delta))


# --- the rate limit itself -------------------------------------------------------------


def test_rate_limit_allows_a_burst_then_a_steady_rate(pinned):
    limit = RateLimit(Rule("t", count=3, per=dt.timedelta(minutes=1)))
    assert [limit.hit("a") for _ in range(3)] == [0, 0, 0]
    assert limit.hit("a") == 20 and limit.wait("a") == 20  # one more every 60/3 seconds
    assert limit.hit("b") == 0  # another client has its own budget
    move(seconds=19)
    assert limit.hit("a") == 1
    move(seconds=1)
    assert limit.wait("a") == 0 and limit.hit("a") == 0 and limit.hit("a") == 20
    move(minutes=5)
    assert [limit.hit("a") for _ in range(4)] == [0, 0, 0, 20]  # whole again, no more


def test_refused_tries_do_not_lengthen_the_wait(pinned):
    limit = RateLimit(Rule("t", count=2, per=dt.timedelta(seconds=10)))
    limit.hit("a"), limit.hit("a")
    assert {limit.hit("a") for _ in range(100)} == {5}


def test_rate_limit_keeps_a_bounded_number_of_clients(pinned):
    limit = RateLimit(Rule("t", count=1, per=dt.timedelta(hours=1)), max_keys=100)
    for n in range(1000):
        limit.hit(f"10.0.{n // 256}.{n % 256}")
    assert len(limit._whole_at) == 100
    assert limit.wait("10.0.3.231") > 0  # the most recent are remembered


def test_clients_are_counted_per_ipv4_address_and_ipv6_64():
    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("not an address") == "not an address"


def test_trusted_proxy_setting(monkeypatch):
    monkeypatch.delenv("REGTUI_TRUSTED_PROXY", raising=False)
    assert ServerLimits.from_env().trusted_proxy is None
    assert "trusted_proxy" not in ServerLimits.from_env().waitress_options()
    monkeypatch.setenv("REGTUI_TRUSTED_PROXY", " 127.0.0.1 ")
    options = ServerLimits.from_env().waitress_options()
    assert (options["trusted_proxy"], options["trusted_proxy_headers"]) == ("127.0.0.1", {"x-forwarded-for"})
    monkeypatch.setenv("REGTUI_TRUSTED_PROXY", "proxy.example, 10.0.0.1")
    with pytest.raises(UsageError, match="is not an IP address"):
        ServerLimits.from_env()


# --- over HTTP: rate limits -------------------------------------------------------------


def test_a_flood_of_wrong_tokens_gets_429_then_recovers(db, db_url, admin, pinned):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    good = invitations.link(inv)
    mac = token_of(good).split(".")[1]
    db.close()
    with running(db_url) as (site, _):
        statuses = [site.get(f"/claim/{inv.id + 1 + n}.{mac}").status for n in range(WRONG_LINKS.count)]
        assert statuses == [404] * WRONG_LINKS.count
        flood = [site.get(f"/set-password/{n}.{mac}") for n in range(10)]
        assert {r.status for r in flood} == {429}
        wait = int(flood[0].headers["Retry-After"])
        assert 0 < wait <= 30  # one more wrong try every 30 s (20 per 10 minutes)
        assert "Too many tries" in flood[0].body
        # a right link from the same address waits too: the address is scanning
        assert site.get(good).status == 429
        move(seconds=wait)
        assert site.get(good).status == 200
        assert site.get(f"/claim/{inv.id + 100}.{mac}").status == 404  # the one wrong try it earned
        assert site.get(good).status == 429
        move(minutes=10)
        assert site.get(good).status == 200


def test_a_flood_of_posts_gets_429_and_changes_nothing(db, db_url, admin, pinned):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    link = invitations.link(inv)
    db.close()
    with running(db_url) as (site, _):
        before = dump()
        statuses = [site.post(link, {"first_name": "Ada"}).status for _ in range(LINK_POSTS.count)]
        assert statuses == [400] * LINK_POSTS.count  # a form that is never right
        r = site.post(link, claim_fields())
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        assert dump() == before
        assert site.get(link).status == 200  # reading the page is not a post
        move(minutes=1)
        assert site.post(link, claim_fields()).status == 200


def test_x_forwarded_for_counts_only_from_the_trusted_proxy(db, db_url, admin, pinned):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    good = invitations.link(inv)
    db.close()
    flood = range(WRONG_LINKS.count + 1)

    # no trusted proxy: a client cannot dodge the limit by making up X-Forwarded-For
    with running(db_url) as (site, _):
        statuses = [site.get(f"/claim/{n}.x", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status for n in flood]
        assert statuses[-1] == 429
        assert site.get(good, headers={"X-Forwarded-For": "198.51.100.250"}).status == 429

    # behind the trusted proxy (here: 127.0.0.1), each client is counted by the address it passes on
    with running(db_url, ServerLimits(trusted_proxy="127.0.0.1")) as (site, _):
        mallory = {"X-Forwarded-For": "203.0.113.66"}
        statuses = [site.get(f"/claim/{n}.x", headers=mallory).status for n in flood]
        assert statuses[-1] == 429
        assert site.get(good, headers=mallory).status == 429
        # only the last address counts: the one the proxy saw (the others are the client's word)
        assert site.get(good, headers={"X-Forwarded-For": "203.0.113.66, 203.0.113.9"}).status == 200
        assert site.get(good, headers={"X-Forwarded-For": "203.0.113.9"}).status == 200
        assert site.get(good, headers={"X-Forwarded-For": "2001:db8::1"}).status == 200


def test_cross_origin_post_counts_and_is_refused(db, db_url, admin, pinned):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    link = invitations.link(inv)
    db.close()
    with running(db_url) as (site, _):
        before = dump()
        statuses = {site.post(link, claim_fields(), headers={"Origin": "https://evil.example"}).status
                    for _ in range(LINK_POSTS.count)}
        assert statuses == {403}
        assert site.post(link, claim_fields(), headers={"Origin": "https://evil.example"}).status == 429
        assert dump() == before


# --- over HTTP: what waitress refuses ---------------------------------------------------


def _raw(port: int, data: bytes, *, timeout: float = 30) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(data)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _port(site) -> int:
    return int(site.base.rsplit(":", 1)[1])


def test_a_huge_body_is_refused_before_it_is_sent(db, db_url, admin):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    path = f"/claim/{token_of(invitations.link(inv))}"
    db.close()
    with running(db_url) as (site, _):
        before = dump()
        # the headers announce 200 MiB; not one byte of the body is sent
        sock = _raw(_port(site), (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {BIG}\r\n\r\n").encode())
        with sock:
            answer = _read_all(sock)  # the server answers and closes without waiting for the body
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

        # a chunked body has no length up front: it is cut off once past the limit
        sock = _raw(_port(site), (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                  "Content-Type: application/x-www-form-urlencoded\r\n\r\n").encode())
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"a" * 64 * 1024)
        sent = 0
        with sock:
            try:
                for _ in range(BIG // (64 * 1024)):
                    sock.sendall(chunk)
                    sent += 1
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = _read_all(sock)
        assert b" 413 " in answer.split(b"\r\n", 1)[0], answer[:200]
        most = ServerLimits().max_body // (64 * 1024) + 100
        assert sent < most, f"the server read {sent} chunks of 64 KiB before refusing"

        # a header block past the limit
        sock = _raw(_port(site), b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 64 * 1024 + b"\r\n\r\n")
        with sock:
            assert _read_all(sock).split(b"\r\n", 1)[0] in (b"HTTP/1.1 431 Request Header Fields Too Large",
                                                            b"HTTP/1.0 431 Request Header Fields Too Large")
        assert dump() == before
        assert site.post(path, claim_fields()).status == 200  # and the server still serves


def test_idle_connections_are_closed_and_do_not_lock_others_out(db, db_url):
    db.close()
    quick = ServerLimits(idle_timeout=1, cleanup_interval=1, connection_limit=5)
    with running(db_url, quick) as (site, _):
        idle = [socket.create_connection(("127.0.0.1", _port(site)), timeout=60) for _ in range(5)]
        slow = _raw(_port(site), b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        idle.append(slow)
        try:
            # every connection slot is taken by clients that send nothing; a real visitor still
            # gets the page once waitress has closed the idle ones
            assert site.get("/").status == 200
            for sock in idle:
                assert _read_all(sock) == b""  # closed by the server
        finally:
            for sock in idle:
                sock.close()


# --- `regtui serve` itself ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_listening(port: int, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError(f"regtui serve ended: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # waiting for the server to start, not timing anything
    raise AssertionError("regtui serve did not start listening")


def test_regtui_serve_applies_the_limits(db, db_url, admin, tmp_path):
    pool = make_pool(admin)
    [inv] = invitations.invite(admin, pool, ["ada@example.com"])
    path = f"/claim/{token_of(invitations.link(inv))}"
    db.close()
    port = _free_port()
    spool = tmp_path / "tmp"
    spool.mkdir()
    env = dict(os.environ, REGTUI_NOW=NOW.isoformat(), TMPDIR=str(spool))
    proc = subprocess.Popen([sys.executable, "-m", "regtui", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_listening(port, proc)
        sock = _raw(port, (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {BIG}\r\n\r\n").encode())
        with sock:
            assert _read_all(sock).startswith(b"HTTP/1.1 413")
        statuses = []
        for n in range(WRONG_LINKS.count + 2):
            sock = _raw(port, f"GET /claim/{n}.x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            with sock:
                statuses.append(_read_all(sock).split(b" ", 2)[1])
        assert statuses == [b"404"] * WRONG_LINKS.count + [b"429"] * 2
    finally:
        proc.terminate()
        proc.wait(30)
    assert list(spool.iterdir()) == []  # nothing was spooled to a temporary file


def test_regtui_serve_refuses_a_bad_trusted_proxy_in_one_sentence(db):
    db.close()
    env = dict(os.environ, REGTUI_TRUSTED_PROXY="my-proxy")
    proc = subprocess.run([sys.executable, "-m", "regtui", "serve", "--port", str(_free_port())], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "REGTUI_TRUSTED_PROXY='my-proxy' is not an IP address" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_limits_api_outside_a_request_is_plain():
    assert limits.wait_in_words(1) == "1 second" and limits.wait_in_words(30) == "30 seconds"
    assert limits.wait_in_words(61) == "2 minutes" and limits.wait_in_words(600) == "10 minutes"
    assert Rule("x", 20, dt.timedelta(minutes=10)).describe() == "20 per 10 minutes"
