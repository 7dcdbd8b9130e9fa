"""Webhooks in from connected shops: ``POST /hooks/shop/<name>``.

The raw body (at most 1 MB) is handed to ``services.shops.receive``, which verifies the shop's
signature before anything else is read, stores the delivery and processes it in one
transaction. Answers are one sentence of text: 401 for a missing or wrong signature (or a
replay older than the shop's window), logged as one line without the body; 400 for a body that
is not an order of the shop's documented shape, 413 for more than 1 MB; 404 for a shop that is
not connected; 200 (or 202 for a topic regtui does not act on) once the delivery is stored.
An address that keeps sending bad signatures is answered 429 (``BAD_SIGNATURES``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from regtui.core.errors import NotFound
from regtui.core.services import shops
from regtui.core.shops.base import BadDelivery, Unauthorized
from regtui.web import limits

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
SHOP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# Per client address: after 20 refused signatures in ten minutes, 429 before anything is checked
# (a shop's own deliveries are signed, so they are never counted)
BAD_SIGNATURES = limits.Rule("shop-bad-signatures", count=20, per=dt.timedelta(minutes=10))

bp = Blueprint("shop_hooks", __name__)


def _answer(status: int, sentence: str) -> Response:
    return Response(sentence + "\n", status=status, mimetype="text/plain")


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    return _answer(413, "The body is larger than 1 MB.")


@bp.errorhandler(limits.TooManyTries)
def _too_many(exc: limits.TooManyTries):
    response = _answer(429, f"Too many refused signatures from this address; wait {limits.wait_in_words(exc.retry_after_seconds)}.")
    response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


@bp.post("/hooks/shop/<name>")
def shop_hook(name: str):
    if not SHOP_NAME.match(name):
        return _answer(404, "There is no shop here.")
    limits.refuse_if_over(BAD_SIGNATURES)
    request.max_content_length = MAX_BODY
    body = request.get_data(cache=False)
    try:
        receipt = shops.receive(name, request.headers, body)
    except NotFound:
        return _answer(404, "There is no shop here.")
    except Unauthorized as exc:
        limits.count(BAD_SIGNATURES)
        log.warning("shop %s: delivery refused (401): %s", name, exc)
        return _answer(401, "The signature is missing or wrong.")
    except BadDelivery as exc:
        log.info("shop %s: delivery refused (400): %s", name, exc)
        return _answer(400, str(exc))
    if receipt.later is not None:
        _after_answer(receipt.later)
    return _answer(receipt.status, receipt.sentence)


_background: list[threading.Thread] = []


def _after_answer(delivery_pk: int) -> None:
    """Make a big order in a thread of its own, so the shop has its answer at once (the delivery is
    stored already: if this process stops first, `regtui shop replay` makes it)."""
    thread = threading.Thread(target=_process_received, args=(delivery_pk,), name=f"shop-delivery-{delivery_pk}", daemon=True)
    _background[:] = [t for t in _background if t.is_alive()] + [thread]
    thread.start()


def _process_received(delivery_pk: int) -> None:
    from regtui.core import db as dbmod

    try:
        dbmod.connect()
        shops.process_received(delivery_pk)
    except Exception:
        log.exception("shop delivery %s: processing after the answer failed; `regtui shop replay` retries it", delivery_pk)
    finally:
        dbmod.close()


def wait_for_background(timeout: float = 60) -> None:
    """Wait for the big orders being made after their answer (tests, and a clean shutdown)."""
    for thread in list(_background):
        thread.join(timeout)
