"""One JSON POST/GET to a shop's admin API, with its answers mapped to TryLater/CallFailed."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from regtui.core.shops.base import CallFailed, TryLater

TIMEOUT = 10


def call(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    """(status, parsed JSON) of a 2xx answer; 429 and 5xx and an unreachable shop raise TryLater
    (with the Retry-After seconds when the shop sent them), other answers CallFailed."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Accept": "application/json",
                                          "User-Agent": "regtui", **headers})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, _json(resp.read())
    except urllib.error.HTTPError as exc:
        reply = exc.read()[:500].decode("utf-8", "replace")
        if exc.code == 429 or exc.code >= 500:
            raise TryLater(f"{exc.code} {reply}".strip(), _retry_after(exc.headers.get("Retry-After"))) from None
        raise CallFailed(f"{exc.code} {reply}".strip()) from None
    except (urllib.error.URLError, OSError) as exc:
        raise TryLater(f"unreachable: {getattr(exc, 'reason', exc)}") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise TryLater("the answer was not JSON") from None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (its HTTP-date form is read as 'soon': one minute)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return 60.0
