"""Signed-in sessions and CSRF tokens for the web pages that have them: the learner's ``/me`` and
the operators' ``/staff`` (one cookie per browser; each face keeps its own key in it).

The session is Flask's signed cookie, keyed from the installation's secret (so it survives a
restart and is the same on every server of one installation): ``HttpOnly``, ``SameSite=Lax``, and
``Secure`` when the site is served over HTTPS (``REGTUI_SITE_URL``). It holds who signed in, when,
when they were last seen (an idle session ends), and a digest of the credential they signed in
with (a new password ends every older session). Every form carries the session's CSRF token;
a POST without the right one is refused (403).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from flask import abort, request, session

from regtui import config
from regtui.core import clock

IDLE = dt.timedelta(hours=2)
LIFETIME = dt.timedelta(days=14)


def init_app(app) -> None:
    """Key and cookie settings for ``app``'s sessions."""
    from regtui.core.services import tokens

    app.secret_key = hmac.new(tokens.secret_key(), b"web-session", hashlib.sha256).digest()
    app.config.update(SESSION_COOKIE_NAME="regtui_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=config.site_url().startswith("https://"))
    app.jinja_env.globals["csrf_token"] = csrf_token


def now() -> float:
    return clock.now().replace(tzinfo=dt.timezone.utc).timestamp()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """403 unless the POSTed form carries this session's CSRF token."""
    sent = request.form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(403)


def start(kind: str, subject: dict) -> None:
    """A new session (and CSRF token) for ``subject`` (e.g. the signed-in learner), replacing any."""
    session.clear()
    moment = now()
    session.update({kind: subject, "started": moment, "seen": moment, "csrf": secrets.token_urlsafe(32)})


def subject(kind: str, *, idle: dt.timedelta = IDLE, lifetime: dt.timedelta = LIFETIME) -> dict | None:
    """Who is signed in as ``kind`` in this session, if it was seen within ``idle`` and started
    within ``lifetime``; marks it seen."""
    found = session.get(kind)
    moment = now()
    if not found or moment - session.get("seen", 0) > idle.total_seconds() \
            or moment - session.get("started", 0) > lifetime.total_seconds():
        return None
    session["seen"] = moment
    return found


def end() -> None:
    session.clear()
