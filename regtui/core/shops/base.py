"""What every shop adapter returns: plain order data, no models, no database.

An adapter verifies a delivery exactly as its shop documents (signature over the raw body,
timestamp window where the shop sends one), turns the body into an ``Event`` of plain data,
reads the shop's CSV order export, and calls the shop's admin API to create a customer.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

MAX_LINE_SEATS = 10_000
"""The most seats one shop order line may bring (more is refused as absurd, 400)."""

# ISO 4217 codes in use: an order in any other "currency" is a shape never seen (400)
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF
CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD
LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP
PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT
TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
""".split())


class Unauthorized(Exception):
    """The signature is missing or wrong, or the delivery is older than the shop's window: 401."""


class BadDelivery(Exception):
    """The body is not an order of the documented shape: 400 with this sentence."""


class TryLater(Exception):
    """The shop's API said to come back later (429, 5xx, unreachable); ``after`` in seconds if it said."""

    def __init__(self, message: str, after: float | None = None):
        super().__init__(message)
        self.after = after


class CallFailed(Exception):
    """The shop's API refused the call for good (4xx other than 429): kept as failed with its reply."""


@dataclass(frozen=True)
class Buyer:
    email: str
    remote_id: str | None = None
    first_name: str = ""
    last_name: str = ""
    company: str = ""


@dataclass(frozen=True)
class Line:
    line_id: str
    sku: str
    quantity: int
    title: str = ""


@dataclass(frozen=True)
class ShopOrder:
    order_id: str
    number: str
    currency: str
    buyer: Buyer
    lines: tuple[Line, ...]
    placed_at: dt.datetime | None = None


@dataclass(frozen=True)
class Event:
    """What a delivery asks for. ``action``: ``create`` (a paid order: ``order``), ``cancel`` (the
    whole order), ``refund`` (``refunds``: (line id, seats) pairs) or ``ignore``."""

    action: str
    order_id: str | None = None
    order: ShopOrder | None = None
    refunds: tuple[tuple[str, int], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Delivery:
    """A verified delivery: its id (the shop's, for idempotency), topic and raw body."""

    delivery_id: str
    topic: str
    body: bytes


def header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    return value.strip() if isinstance(value, str) else ""


def same(given: str, expected: str) -> bool:
    """Constant-time comparison of two signatures (any text: non-ASCII never matches)."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("ascii"))


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadDelivery("The body is not valid JSON.") from None


def need(mapping: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(mapping, dict) or not isinstance(mapping.get(key), kind) or isinstance(mapping.get(key), bool):
        raise BadDelivery(f"The {what} has no {key!r} of the documented type.")
    return mapping[key]


def text_id(value: Any, what: str) -> str:
    """A shop id (number or string) as text, refused if it is neither or is empty/huge."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip() or len(str(value)) > 100:
        raise BadDelivery(f"The {what} id is missing or not an id.")
    return str(value).strip()


def quantity(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LINE_SEATS:
        raise BadDelivery(f"{where} has quantity {value!r}; a line brings 1 to {MAX_LINE_SEATS:,} seats.")
    return value


def whole_number(text: Any) -> int | str:
    """A CSV cell as an int, or the text itself (which ``quantity`` then refuses with the value)."""
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return str(text)


def currency(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in CURRENCIES:
        raise BadDelivery(f"The order's currency {value!r} is not an ISO 4217 currency.")
    return value.upper()


def clean(value: Any, limit: int = 200) -> str:
    """Text from a shop for names: control characters dropped, length capped."""
    if not isinstance(value, str):
        return ""
    return re.sub(r"[\x00-\x1f\x7f]", "", value).strip()[:limit]


def parse_time(value: Any) -> dt.datetime | None:
    """An ISO 8601 time as naive UTC (None if absent or unreadable); more than 6 fraction digits are cut."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    text = re.sub(r"^(\d{4}-\d{2}-\d{2}) (\d)", r"\1T\2", text)  # "2027-01-31 09:00:00 -0500" (CSV exports)
    text = re.sub(r"\s+([+-]\d{2}):?(\d{2})$", r"\1:\2", text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when.replace(microsecond=0)
