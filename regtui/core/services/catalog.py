"""Products and their sessions (the things customers buy seats of)."""

from __future__ import annotations

import datetime as dt

from regtui.core.errors import NotFound, UsageError
from regtui.core.ids import parse_id
from regtui.core.models import Product, Session, database
from regtui.core.services import audit
from regtui.core.services.permissions import Actor, require

# ten years: an access that long is a seat for good (use --open for that); longer ones ran past
# the year 9999 dates can hold, so every later assign failed
MAX_ACCESS_DAYS = 3650


def add_product(actor: Actor, code: str, name: str) -> Product:
    require(actor, "catalog.edit")
    with database.atomic():
        if Product.get_or_none(Product.code == code):
            raise UsageError(f"A product with code {code!r} already exists.")
        row = Product.create(code=code, name=name)
        audit.record(actor, "product.add", row, after={"code": code, "name": name})
    return row


def add_session(actor: Actor, product: Product, code: str, name: str, *, starts: dt.date | None = None,
                access_days: int | None = 365, generate_codes: bool = True, price_cents: int = 0,
                course_url: str | None = None) -> Session:
    require(actor, "catalog.edit")
    if course_url is not None:
        course_url = check_course_url(course_url)
    if access_days is not None and not 1 <= access_days <= MAX_ACCESS_DAYS:
        raise UsageError(f"The default access length must be from 1 to {MAX_ACCESS_DAYS:,} days, not {access_days:,}.")
    with database.atomic():
        if Session.get_or_none(Session.code == code):
            raise UsageError(f"A session with code {code!r} already exists.")
        row = Session.create(product=product, code=code, name=name, starts=starts, access_days=access_days,
                             generate_codes=generate_codes, price_cents=price_cents, course_url=course_url)
        audit.record(actor, "session.add", row, after={"code": code, "name": name, "product": product.code,
                                                       "access_days": access_days, "generate_codes": generate_codes,
                                                       "course_url": course_url})
    return row


def find_product(ref: str) -> Product:
    pid = parse_id(ref)
    row = Product.get_or_none(Product.id == pid) if pid is not None else None
    row = row or Product.get_or_none((Product.code == ref) | (Product.name == ref))
    if row is None:
        raise NotFound(f"There is no product {ref!r}.")
    return row


def find_session(ref: str) -> Session:
    """A session by id, code or name."""
    sid = parse_id(ref)
    row = Session.get_or_none(Session.id == sid) if sid is not None else None
    row = row or Session.get_or_none((Session.code == ref) | (Session.name == ref))
    if row is None:
        raise NotFound(f"There is no session {ref!r}: give its id, code or name (see `regtui sessions`).")
    return row


def list_sessions() -> list[Session]:
    return list(Session.select(Session, Product).join(Product).order_by(Product.name, Session.code))


def check_course_url(url: str) -> str:
    """An http(s) URL with a host and no spaces or control characters (it becomes a link on /me)."""
    from urllib.parse import urlsplit

    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000 \
            or any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise UsageError(f"{url!r} is not a course URL: give http:// or https:// and a host, with no spaces.")
    return url
