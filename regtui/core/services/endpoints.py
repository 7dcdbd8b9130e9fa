"""Endpoints: learning platforms told about every access and learner change by signed webhooks.

The wire format is the Standard Webhooks specification (standardwebhooks.com, spec 1.0.0):

- a POST of a JSON body ``{"type": KIND, "timestamp": ISO-8601 UTC, "data": {...}}``;
- headers ``webhook-id`` (the event's id, the same on every retry: the receiver's idempotency
  key), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
  (``v1,`` + base64 HMAC-SHA256 of ``"{id}.{timestamp}.{body}"`` under the endpoint's secret);
- the secret is shown to the admin once as ``whsec_`` + base64 of 32 random-looking bytes.

The secret is never stored: it is an HMAC of the endpoint's random nonce under the installation's
secret key (``tokens.secret_key``), like every link regtui makes, so a copy of the database can
sign nothing.

Events are written by ``services.events`` in the transaction of the change that caused them.
``deliver_due`` fans new events out to the endpoints that want them (one ``hook_delivery`` row
each, set-based, in one transaction), then sends what is due: in order per access (an event waits
while an earlier one of the same access to the same endpoint is not yet delivered), retried after
5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h (the specification's schedule; a ``Retry-After`` is
honoured when longer), then given up. A 2xx is success; a redirect is a failure and is never
followed; ``410 Gone`` disables the endpoint; an endpoint failing for ``DISABLE_AFTER`` without one
success is disabled. A sender killed mid-delivery loses nothing: the claimed row is sent again
after ``STALE_SENDING`` (at least once; the receiver dedupes by ``webhook-id``).
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urlsplit

from peewee import JOIN, fn

from regtui.core import clock
from regtui.core.db import dialect
from regtui.core.errors import NotFound, Refused, UsageError
from regtui.core.models import (Access, Code, Customer, Endpoint, Event, HookDelivery, Learner, Order, Pool,
                                Product, Session, database)
from regtui.core.services import access as access_service
from regtui.core.services import audit, events, tokens
from regtui.core.services.permissions import Actor, require

PURPOSE = "webhook-secret"
RETRY_DELAYS = [dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
                dt.timedelta(hours=5), dt.timedelta(hours=10), dt.timedelta(hours=10)]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
DISABLE_AFTER = dt.timedelta(days=5)
STALE_SENDING = dt.timedelta(minutes=5)
TIMEOUT_SECONDS = 15
BATCH = 200
MAX_URL = 2000


@dataclass(frozen=True)
class EndpointInfo:
    id: int
    url: str
    events: list[str]
    created_at: dt.datetime
    disabled: str | None
    pending: int
    failed: int
    delivered: int

    def as_dict(self) -> dict:
        return {"id": self.id, "url": self.url, "events": self.events, "created": self.created_at.isoformat(),
                "disabled": self.disabled, "pending": self.pending, "failed": self.failed,
                "delivered": self.delivered}


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    endpoint_id: int
    event_id: int
    kind: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status: int | None
    last_error: str | None

    def as_dict(self) -> dict:
        return {"id": self.id, "endpoint": self.endpoint_id, "event": self.event_id, "type": self.kind,
                "status": self.status, "attempts": self.attempts,
                "next_attempt": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
                "last_status": self.last_status, "last_error": self.last_error}


# --- managing endpoints ---------------------------------------------------------------------


def secret_of(endpoint: Endpoint) -> str:
    """The endpoint's signing secret as the admin was shown it (``whsec_...``)."""
    raw = hmac.new(tokens.secret_key(), f"{PURPOSE}:{endpoint.id}:{endpoint.nonce}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()


def parse_events(text: str | None) -> list[str]:
    """``access.*,learner.created`` -> the patterns; refused if one matches no event kind."""
    patterns = [p.strip() for p in (text or "access.*,learner.*").split(",") if p.strip()]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(kind, pattern) for kind in events.KINDS):
            raise UsageError(f"{pattern!r} matches no event; events are {', '.join(events.KINDS)} (a * matches any part).")
    return patterns


def check_url(url: str, *, allow_private: bool = False,
              resolve: Callable[[str], Iterable[str]] | None = None) -> str:
    """The URL if regtui may send webhooks to it: http(s), a host, and (unless an admin allows
    private addresses) a host that resolves only to public addresses: a webhook must not become a
    way to reach the server's own network (SSRF)."""
    if len(url) > MAX_URL or any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise UsageError("That URL is too long or has spaces or control characters in it.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an http:// or https:// URL with a host.")
    if parts.username or parts.password:
        raise UsageError("Put no user name or password in the URL; receivers check the signature instead.")
    if allow_private:
        return url
    addresses = list((resolve or _resolve)(parts.hostname))
    if not addresses:
        raise UsageError(f"{parts.hostname} does not resolve to an address.")
    private = _first_private(addresses)
    if private:
        raise Refused(f"{parts.hostname} is a private or local address ({private}); an admin may allow it with "
                      "--allow-private.", code="private-address")
    return url


def _first_private(addresses: Iterable[str]) -> str | None:
    """The first address that is not on the public internet (loopback, private, link-local...)."""
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            return str(ip)
    return None


def _resolve(host: str) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except (socket.gaierror, UnicodeError):
        return []


def add(actor: Actor, url: str, *, event_patterns: str | None = None, allow_private: bool = False,
        probe: Callable[[str], int | None] | None = None) -> tuple[Endpoint, str]:
    """Add an endpoint; returns it and its secret, which is shown this once. A URL that answers
    with a redirect is refused (webhooks never follow one: give the final URL)."""
    require(actor, "hooks.manage")
    if allow_private and not actor.is_admin:
        raise Refused("Only an admin may allow a private address.", code="not-admin")
    patterns = parse_events(event_patterns)
    url = check_url(url, allow_private=allow_private)
    answer = (probe or functools.partial(_probe, allow_private=allow_private))(url)
    if answer is not None and 300 <= answer < 400:
        raise Refused(f"{url} answers with a redirect ({answer}); webhooks never follow one, so give the URL it "
                      "redirects to.", code="redirect")
    with database.atomic():
        # new endpoints hear what happens from now on, not the history before them
        newest = Event.select(Event.id).order_by(Event.id.desc()).scalar() or 0
        row = Endpoint.create(url=url, events=",".join(patterns), nonce=tokens.new_nonce(), last_event_id=newest,
                              allow_private=allow_private)
        audit.record(actor, "endpoint.add", row, after={"url": url, "events": patterns, "allow_private": allow_private})
    return row, secret_of(row)


def _probe(url: str, *, allow_private: bool = False) -> int | None:
    """The status a HEAD request gets (redirects not followed), or None if it got no answer."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "regtui-webhooks"})
    try:
        with _opener(allow_private).open(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError, ValueError):
        return None


def remove(actor: Actor, endpoint_id: int) -> None:
    require(actor, "hooks.manage")
    with database.atomic():
        row = _get(endpoint_id)
        audit.record(actor, "endpoint.remove", row, before={"url": row.url})
        row.delete_instance()


def _get(endpoint_id: int) -> Endpoint:
    row = Endpoint.get_or_none(Endpoint.id == endpoint_id) if 0 < endpoint_id < 2**63 else None
    if row is None:
        raise NotFound(f"There is no endpoint {endpoint_id}; `regtui hooks` lists them.")
    return row


def listing(actor: Actor) -> list[EndpointInfo]:
    require(actor, "hooks.view")
    counts: dict[tuple[int, str], int] = {}
    q = (HookDelivery.select(HookDelivery.endpoint, HookDelivery.status, fn.COUNT(HookDelivery.id))
         .group_by(HookDelivery.endpoint, HookDelivery.status).tuples())
    for endpoint_id, status, n in q:
        counts[(endpoint_id, status)] = n
    return [EndpointInfo(e.id, e.url, e.events.split(","), e.created_at, e.disabled_reason,
                         counts.get((e.id, "pending"), 0) + counts.get((e.id, "sending"), 0),
                         counts.get((e.id, "failed"), 0), counts.get((e.id, "delivered"), 0))
            for e in Endpoint.select().order_by(Endpoint.id)]


def log(actor: Actor, endpoint_id: int | None = None, *, limit: int = 50) -> list[DeliveryInfo]:
    """The newest deliveries (of one endpoint, or all), newest first."""
    require(actor, "hooks.view")
    if endpoint_id is not None:
        _get(endpoint_id)
    q = (HookDelivery.select(HookDelivery, Event.kind).join(Event)
         .order_by(HookDelivery.id.desc()).limit(max(1, min(limit, 1000))))
    if endpoint_id is not None:
        q = q.where(HookDelivery.endpoint == endpoint_id)
    return [DeliveryInfo(d.id, d.endpoint_id, d.event_id, d.event.kind, d.status, d.attempts, d.next_attempt_at,
                         d.last_status, d.last_error) for d in q]


DELIVERY_SORTS = {"event": HookDelivery.event, "status": HookDelivery.status, "tries": HookDelivery.attempts}


def _deliveries(endpoint_id: int, search: str, columns):
    from regtui.core import paging

    q = HookDelivery.select(*columns).join(Event).where(HookDelivery.endpoint == endpoint_id)
    if search.strip():
        q = q.where(paging.contains([Event.kind, HookDelivery.status, HookDelivery.last_error], search))
    return q


def deliveries_page(actor: Actor, endpoint_id: int, *, search: str = "", sort: str = "event", descending: bool = True,
                    limit: int = 100, after: str | None = None, before: str | None = None, last: bool = False):
    """One page of an endpoint's deliveries (``log``'s rows), newest event first unless sorted
    otherwise, searched by event type, status or error in the database."""
    from regtui.core import paging

    require(actor, "hooks.view")
    _get(endpoint_id)
    columns = (HookDelivery.id, HookDelivery.endpoint, HookDelivery.event, Event.kind, HookDelivery.status,
               HookDelivery.attempts, HookDelivery.next_attempt_at, HookDelivery.last_status, HookDelivery.last_error)
    return paging.fetch(_deliveries(endpoint_id, search, columns), sort_expr=paging.sort_expression(DELIVERY_SORTS, sort),
                        key=HookDelivery.id, descending=descending, limit=limit, after=after, before=before, last=last,
                        total=lambda: _deliveries(endpoint_id, search, (HookDelivery.id,)).count(),
                        make=lambda r: DeliveryInfo(*r))


def retry_now(actor: Actor, endpoint_id: int) -> int:
    """Make the endpoint's failed and waiting deliveries due now (and enable it again)."""
    require(actor, "hooks.manage")
    with database.atomic():
        row = _get(endpoint_id)
        mine = HookDelivery.endpoint == row.id
        # a given-up delivery gets one more attempt; a waiting one stops waiting
        changed = (HookDelivery.update(status="pending", next_attempt_at=clock.now(), attempts=MAX_ATTEMPTS - 1)
                   .where(mine & (HookDelivery.status == "failed")).execute())
        changed += (HookDelivery.update(next_attempt_at=clock.now())
                    .where(mine & (HookDelivery.status == "pending")).execute())
        Endpoint.update(disabled_reason=None, failing_since=None).where(Endpoint.id == row.id).execute()
        audit.record(actor, "endpoint.retry", row, after={"deliveries": changed})
    return changed


# --- fan-out and delivery ---------------------------------------------------------------------


def fan_out() -> int:
    """One pending delivery per (enabled endpoint, new event it wants), set-based; returns how many."""
    total = 0
    with database.atomic():
        for endpoint in dialect().locked(Endpoint.select().where(Endpoint.disabled_reason.is_null())):
            newest = Event.select(Event.id).order_by(Event.id.desc()).scalar() or 0
            if newest <= endpoint.last_event_id:
                continue
            kinds = [k for k in events.KINDS if any(fnmatch.fnmatchcase(k, p) for p in endpoint.events.split(","))]
            mark = dialect().param
            cursor = database.cursor()
            if kinds:
                cursor.execute(
                    f'INSERT INTO "hook_delivery" ("endpoint_id", "event_id", "status", "attempts", "next_attempt_at") '
                    f"SELECT {mark}, e.id, 'pending', 0, e.at FROM \"event\" AS e "
                    f"WHERE e.id > {mark} AND e.id <= {mark} AND e.kind IN ({', '.join(mark for _ in kinds)}) "
                    f"ORDER BY e.id",
                    [endpoint.id, endpoint.last_event_id, newest, *kinds])
                total += cursor.rowcount
            Endpoint.update(last_event_id=newest).where(Endpoint.id == endpoint.id).execute()
    return total


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    retrying: int = 0
    given_up: int = 0
    disabled: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


Post = Callable[[str, bytes, dict], tuple[int | None, dict, str | None]]


def deliver_due(actor: Actor, *, post: Post | None = None, limit: int = 10_000) -> DeliveryReport:
    """Fan out new events and send every due delivery once (``regtui hooks deliver``, and the
    scheduler once a minute)."""
    require(actor, "hooks.manage")
    fan_out()
    report = DeliveryReport()
    down: set[int] = set()  # endpoints that did not answer this run: the rest of theirs waits
    sent = 0
    while sent < limit:
        claimed = _claim_due(min(BATCH, limit - sent), skip=down)
        if not claimed:
            break
        for delivery in claimed:
            if delivery.endpoint_id in down:
                _unclaim(delivery)
            elif _send_one(delivery, post, report) is None:
                down.add(delivery.endpoint_id)
        sent += len(claimed)
    return report


def _unclaim(delivery: HookDelivery) -> None:
    """Back to pending without counting a try (its endpoint is down for this run)."""
    with database.atomic():
        HookDelivery.update(status="pending", claimed_at=None).where(HookDelivery.id == delivery.id).execute()


def _claim_due(n: int, skip: set[int] = frozenset()) -> list[HookDelivery]:
    """Up to ``n`` due deliveries, each the oldest undelivered one of its access at its endpoint,
    marked ``sending`` so a second sender skips them."""
    now = clock.now()
    stale = now - STALE_SENDING
    with database.atomic():
        # an event waits while an earlier one of the same access to the same endpoint is undelivered
        earlier = HookDelivery.alias()
        earlier_event = Event.alias()
        waiting = (earlier.select(earlier.id).join(earlier_event, on=(earlier.event == earlier_event.id))
                   .where((earlier.endpoint == HookDelivery.endpoint) & (earlier.id < HookDelivery.id)
                          & (earlier.status.in_(["pending", "sending"]))
                          & (earlier_event.access == Event.access) & Event.access.is_null(False)))
        q = (HookDelivery.select(HookDelivery.id).join(Event).switch(HookDelivery)
             .join(Endpoint).where(Endpoint.disabled_reason.is_null()
                                   & (((HookDelivery.status == "pending") & (HookDelivery.next_attempt_at <= now))
                                      | ((HookDelivery.status == "sending") & (HookDelivery.claimed_at < stale)))
                                   & ~fn.EXISTS(waiting))
             .order_by(HookDelivery.id).limit(n))
        if skip:
            q = q.where(HookDelivery.endpoint.not_in(list(skip)))
        ids = [d.id for d in dialect().locked(q)]
        if not ids:
            return []
        HookDelivery.update(status="sending", claimed_at=now).where(HookDelivery.id.in_(ids)).execute()
    return list(HookDelivery.select(HookDelivery, Event, Endpoint).join(Event).switch(HookDelivery).join(Endpoint)
                .where(HookDelivery.id.in_(ids)).order_by(HookDelivery.id))


def _send_one(delivery: HookDelivery, post: Post | None, report: DeliveryReport) -> int | None:
    """Send one delivery and record the answer; returns the HTTP status (None: no answer)."""
    endpoint = delivery.endpoint
    body = delivery.body or payload_text(delivery.event)
    timestamp = int(clock.now().replace(tzinfo=dt.timezone.utc).timestamp())
    headers = sign(secret_of(endpoint), f"evt_{delivery.event_id}", timestamp, body)
    headers["content-type"] = "application/json"
    headers["user-agent"] = "regtui-webhooks"
    send = post or functools.partial(http_post, allow_private=endpoint.allow_private)
    status, response_headers, error = send(endpoint.url, body.encode(), headers)
    _record_attempt(delivery, endpoint, body, status, response_headers, error, report)
    return status


def _record_attempt(delivery: HookDelivery, endpoint: Endpoint, body: str, status: int | None,
                    response_headers: dict, error: str | None, report: DeliveryReport) -> None:
    now = clock.now()
    attempts = delivery.attempts + 1
    with database.atomic():
        if status is not None and 200 <= status < 300:
            HookDelivery.update(status="delivered", attempts=attempts, body=body, last_status=status, last_error=None,
                                delivered_at=now, claimed_at=None).where(HookDelivery.id == delivery.id).execute()
            Endpoint.update(failing_since=None).where(Endpoint.id == endpoint.id).execute()
            report.delivered += 1
            return
        reason = error or (f"answered {status} (a redirect, not followed)" if status and 300 <= status < 400
                           else f"answered {status}")
        give_up = attempts >= MAX_ATTEMPTS
        wait = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
        wait = max(wait, _retry_after(response_headers))
        HookDelivery.update(status="failed" if give_up else "pending", attempts=attempts, body=body,
                            last_status=status, last_error=reason[:500], claimed_at=None,
                            next_attempt_at=None if give_up else now + wait).where(HookDelivery.id == delivery.id).execute()
        report.failed += 1
        report.given_up += give_up
        report.retrying += not give_up
        failing_since = endpoint.failing_since or now
        disable = "gone (410)" if status == 410 else (
            f"failing since {failing_since:%Y-%m-%d %H:%M}" if now - failing_since >= DISABLE_AFTER else None)
        Endpoint.update(failing_since=failing_since, disabled_reason=disable).where(Endpoint.id == endpoint.id).execute()
        endpoint.failing_since = failing_since
        if disable:
            report.disabled += 1
            audit.record("regtui", "endpoint.disable", endpoint, after={"reason": disable})


def _retry_after(headers: dict) -> dt.timedelta:
    value = (headers or {}).get("retry-after", "")
    if value.isascii() and value.isdigit() and len(value) < 7:
        return dt.timedelta(seconds=int(value))
    return dt.timedelta(0)


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> dict:
    """The Standard Webhooks headers for ``body``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(mac).decode()}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _connect_public(address: tuple[str, int], timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """Connect to ``address`` only if its host resolves to public addresses, and to the address
    just checked: the name is resolved once, here, so a host whose DNS changed since it was added
    (DNS rebinding) cannot point a webhook at the server's own network."""
    host, port = address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise OSError(f"{host} does not resolve: {err}") from err
    private = _first_private(info[4][0] for info in infos)
    if private:
        raise OSError(f"{host} now resolves to a private or local address ({private}); not sent")
    return socket.create_connection(infos[0][4][:2], timeout, source_address)


class _PublicHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_public


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    """TLS still checks the certificate against the host's name (server_hostname is the host)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect_public


class _PublicHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_PublicHTTPConnection, req)


class _PublicHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_PublicHTTPSConnection, req, context=self._context)


def _opener(allow_private: bool = False):
    """urllib that follows no redirect and, unless private addresses are allowed, connects only to
    public ones, directly (a proxy from the environment would connect for us, past the check)."""
    handlers: list = [_NoRedirects()]
    if not allow_private:
        handlers += [urllib.request.ProxyHandler({}), _PublicHTTPHandler(), _PublicHTTPSHandler()]
    return urllib.request.build_opener(*handlers)


def http_post(url: str, body: bytes, headers: dict, *, allow_private: bool = False) -> tuple[int | None, dict, str | None]:
    """POST ``body``; (status, lower-cased response headers, error) with redirects not followed."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _opener(allow_private).open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, None
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in (err.headers or {}).items()}, None
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return None, {}, f"no answer: {reason}"[:500]


# --- payloads ---------------------------------------------------------------------------------


def payload_text(event: Event) -> str:
    """The body sent for ``event``, compact JSON as the specification recommends."""
    return json.dumps(payload(event), separators=(",", ":"), sort_keys=True, default=str)


def payload(event: Event) -> dict:
    data = json.loads(event.data or "{}")
    if event.access_id is not None:
        data = {**access_data(event.access_id), **data}
    elif "learner_id" in data:
        data = {**data, "learner": learner_data(data["learner_id"])}
    return {"type": event.kind, "timestamp": event.at.isoformat() + "Z", "data": data}


def learner_data(learner_id: int) -> dict | None:
    row = Learner.get_or_none(Learner.id == learner_id)
    if row is None:
        return None
    return {"email": row.email, "first_name": row.first_name, "last_name": row.last_name,
            "has_password": row.password_hash is not None}


def access_data(access_id: int) -> dict:
    """What a platform needs to know of an access (see ``accesses_data``)."""
    return accesses_data([access_id]).get(access_id, {"access_id": access_id})


def accesses_data(access_ids: Iterable[int]) -> dict[int, dict]:
    """access id -> what a platform needs to know of it: the learner, the session and product
    codes, the customer (none for a shop's single-seat access, which has no pool), the dates and the
    status derived from them. One query per thousand accesses."""
    ids = list(dict.fromkeys(access_ids))
    out: dict[int, dict] = {}
    for start in range(0, len(ids), 1000):
        q = (Access.select(Access.id, Access.status, Access.starts, Access.ends, Learner.email, Learner.first_name,
                           Learner.last_name, Session.code, Product.code, Customer.name, Customer.email)
             .join(Learner).switch(Access).join(Session).join(Product)
             .switch(Access).join(Code, JOIN.LEFT_OUTER).join(Pool, JOIN.LEFT_OUTER).join(Order, JOIN.LEFT_OUTER)
             .join(Customer, JOIN.LEFT_OUTER).where(Access.id.in_(ids[start:start + 1000])).tuples())
        for aid, stored, starts, ends, email, first, last, session, product, customer, customer_email in q:
            out[aid] = {
                "access_id": aid,
                "learner": {"email": email, "first_name": first, "last_name": last},
                "session": session,
                "product": product,
                "customer": {"name": customer, "email": customer_email} if customer else None,
                "starts": starts.isoformat(),
                "ends": ends.isoformat() if ends else None,
                "status": access_service.status(stored, starts, ends),
            }
    return out
