"""Limits of the web server: waitress settings, and rate limits per client address.

Two parts, both reusable by every page of ``regtui serve`` (claim, sign-in, staff pages, hooks):

- ``ServerLimits``: what waitress itself enforces before a request reaches Flask (largest body
  and header, idle connection timeout, open connections), and the one reverse proxy whose
  ``X-Forwarded-For`` header is believed. ``ServerLimits.from_env().waitress_options()`` is what
  ``regtui serve`` passes to waitress; tests pass the same options to ``waitress.create_server``.
- ``Rule`` and ``RateLimit``: at most ``count`` events per ``per`` for each client address, as a
  steady rate with bursts of up to ``count`` (the generic cell rate algorithm: one number per
  address). Time is ``regtui.core.clock``, so a test moves time instead of sleeping.

In a view (or a ``before_request``), with a rule defined once at module level::

    SIGN_IN = limits.Rule("sign-in", count=10, per=dt.timedelta(minutes=10))

    limits.take(SIGN_IN)            # counts one try; 429 with Retry-After when over the limit
    limits.refuse_if_over(SIGN_IN)  # 429 if the client has no tries left, counting nothing
    limits.count(SIGN_IN)           # counts one (e.g. after a wrong token), never refuses

Each Flask app has its own counters (``app.extensions``), so two apps (two tests) never share
them. The client is ``request.remote_addr``: the peer's address, or, when the peer is the
configured trusted proxy, the address that proxy put last in ``X-Forwarded-For`` (waitress
does that rewriting, and drops the header from anyone else). IPv6 clients are counted per /64,
the block one household or host usually holds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from regtui.core import clock
from regtui.core.errors import UsageError

_EPOCH = dt.datetime(1970, 1, 1)


# --- the server ----------------------------------------------------------------------


@dataclass(frozen=True)
class ServerLimits:
    """What waitress enforces for every connection (sizes in bytes, times in seconds).

    ``max_body`` is checked against Content-Length before any of the body is read, and while
    a chunked body arrives. It is the largest body any route takes: a roster upload on
    /staff/rosters (50 MB and its form); Flask's MAX_CONTENT_LENGTH keeps every other page at
    64 KiB, and a shop's webhook at 1 MiB. Bodies up to ``memory_body`` (a webhook) stay in
    waitress's memory; a larger one (only an upload) goes to a temporary file, so a flood of big
    bodies fills no memory. An idle connection (nothing received, no request being
    answered) is closed after ``idle_timeout``; waitress looks every ``cleanup_interval``.
    At ``connection_limit`` open connections waitress stops accepting until some close.
    """

    # The roster upload of /staff/rosters (50 MB and its form) is the largest body any page takes;
    # every other page refuses more than 64 KiB (Flask's MAX_CONTENT_LENGTH, per request).
    max_body: int = 51 * 1024 * 1024
    memory_body: int = 1024 * 1024  # a shop's webhook (hooks.py): kept in memory, never spooled
    max_header: int = 16 * 1024
    idle_timeout: int = 15
    cleanup_interval: int = 5
    connection_limit: int = 200
    threads: int = 8
    trusted_proxy: str | None = None

    @classmethod
    def from_env(cls) -> "ServerLimits":
        """The defaults, with ``REGTUI_TRUSTED_PROXY`` (one IP address, or unset)."""
        return cls(trusted_proxy=trusted_proxy_from_env())

    def waitress_options(self) -> dict:
        options = {
            "max_request_body_size": self.max_body,
            "inbuf_overflow": min(self.max_body, self.memory_body) + 64 * 1024,
            "max_request_header_size": self.max_header,
            "channel_timeout": self.idle_timeout,
            "cleanup_interval": self.cleanup_interval,
            "connection_limit": self.connection_limit,
            "threads": self.threads,
            "clear_untrusted_proxy_headers": True,
            "ident": "regtui",
        }
        if self.trusted_proxy:
            options.update(trusted_proxy=self.trusted_proxy, trusted_proxy_count=1,
                           trusted_proxy_headers={"x-forwarded-for"})
        return options


def trusted_proxy_from_env() -> str | None:
    """``REGTUI_TRUSTED_PROXY``: the address of the reverse proxy in front of ``regtui serve``
    (e.g. 127.0.0.1 for nginx on the same host). Unset: X-Forwarded-For is ignored."""
    raw = (os.environ.get("REGTUI_TRUSTED_PROXY") or "").strip()
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise UsageError(f"REGTUI_TRUSTED_PROXY={raw!r} is not an IP address; give the one address of "
                         "the reverse proxy in front of regtui serve, or leave it unset.") from None


# --- rate limits ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """At most ``count`` events per ``per`` for one client; ``name`` tells rules apart."""

    name: str
    count: int
    per: dt.timedelta

    def describe(self) -> str:
        return f"{self.count} per {_words(self.per)}"


class RateLimit:
    """The counters of one rule: for each key, the time at which its budget is whole again
    (GCRA's "theoretical arrival time"). At most ``max_keys`` keys are kept: past that, the
    least recently counted is forgotten (by then its budget is usually whole again). Thread-safe."""

    def __init__(self, rule: Rule, *, max_keys: int = 100_000):
        if rule.count < 1 or rule.per.total_seconds() <= 0:
            raise ValueError(f"rate limit {rule.name}: count and period must be positive")
        self.rule = rule
        self.interval = rule.per.total_seconds() / rule.count
        self.tolerance = rule.per.total_seconds() - self.interval
        self.max_keys = max_keys
        self._whole_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> int:
        """Seconds until ``key`` may have one more event (0: now). Counts nothing."""
        now = _seconds()
        with self._lock:
            return _ceil(self._whole_at.get(key, now) - now - self.tolerance)

    def hit(self, key: str) -> int:
        """Count one event for ``key`` and return 0, or, when over the limit, count nothing and
        return the seconds to wait."""
        now = _seconds()
        with self._lock:
            whole_at = max(self._whole_at.get(key, now), now)
            wait = _ceil(whole_at - now - self.tolerance)
            if wait:
                return wait
            self._whole_at[key] = whole_at + self.interval
            self._whole_at.move_to_end(key)
            if len(self._whole_at) > self.max_keys:
                self._forget()
            return 0

    def _forget(self) -> None:
        while len(self._whole_at) > self.max_keys:
            self._whole_at.popitem(last=False)


def client_key(address: str | None) -> str:
    """The key a client is counted under: its IPv4 address, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client() -> str:
    """The key of the client of the current request."""
    return client_key(request.remote_addr)


def limit_of(rule: Rule) -> RateLimit:
    """The current app's counters for ``rule`` (made on first use)."""
    store = current_app.extensions.setdefault("regtui.limits", {})
    with _STORE_LOCK:
        found = store.get(rule)
        if found is None:
            found = store[rule] = RateLimit(rule)
    return found


def take(rule: Rule) -> None:
    """Count one event for the client, or answer 429 (with Retry-After) when over the limit."""
    _refuse(rule, limit_of(rule).hit(client()))


def take_key(rule: Rule, key: str) -> None:
    """Like ``take``, counted under ``key`` (e.g. an account) instead of the client's address."""
    _refuse(rule, limit_of(rule).hit(key))


def refuse_if_over(rule: Rule) -> None:
    """Answer 429 if the client may not have one more event now; counts nothing."""
    _refuse(rule, limit_of(rule).wait(client()))


def count(rule: Rule) -> None:
    """Count one event for the client (nothing happens when it is over the limit already)."""
    limit_of(rule).hit(client())


class TooManyTries(TooManyRequests):
    """429 with Retry-After and the rule that was hit (for the page's sentence)."""

    def __init__(self, rule: Rule, retry_after: int):
        super().__init__(retry_after=retry_after)
        self.rule = rule
        self.retry_after_seconds = retry_after


def _refuse(rule: Rule, wait: int) -> None:
    if wait:
        raise TooManyTries(rule, wait)


def wait_in_words(seconds: int) -> str:
    """'1 minute', '5 minutes', '30 seconds': for the sentence of a 429 page."""
    return _words(dt.timedelta(seconds=seconds))


_STORE_LOCK = threading.Lock()


def _seconds() -> float:
    return (clock.now() - _EPOCH).total_seconds()


def _ceil(seconds: float) -> int:
    return max(0, math.ceil(seconds))


def _words(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = math.ceil(seconds / size)
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")
