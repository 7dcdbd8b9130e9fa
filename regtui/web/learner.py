"""The learner's own pages: sign in, see their trainings, reset a forgotten password, redeem a code.

- ``/signin`` and ``/signout`` (POST): email and password (Argon2id); rate-limited per client
  address and per account; the same answer for an unknown address and a wrong password.
- ``/me``: the learner's trainings with status and dates, and a link to each course.
- ``/forgot``: a single-use link by email, the same answer whether or not the address has an account.
- ``/redeem``: type a registration code the customer handed out and take its seat.

Every write goes through services.learner_sessions and services.codes; this module parses, calls
and renders. Sessions and CSRF: regtui.web.sessions.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, request, url_for

from regtui.core.errors import Refused
from regtui.core.services import codes, learner_sessions
from regtui.web import limits, sessions

bp = Blueprint("learner", __name__)

KIND = "learner"
EMAIL_MAX = 320
PASSWORD_MAX = 1024
# per client address, and per account (the address typed, so a botnet cannot try one account fast)
SIGN_IN = limits.Rule("learner-sign-in", count=10, per=dt.timedelta(minutes=10))
SIGN_IN_ACCOUNT = limits.Rule("learner-sign-in-account", count=10, per=dt.timedelta(hours=1))
FORGOT = limits.Rule("forgot", count=5, per=dt.timedelta(hours=1))
REDEEM = limits.Rule("redeem", count=10, per=dt.timedelta(minutes=10))
REDEEM_ACCOUNT = limits.Rule("redeem-account", count=20, per=dt.timedelta(hours=1))


def _learner():
    """The signed-in learner as they are now, or None."""
    found = sessions.subject(KIND)
    if not found:
        return None
    return learner_sessions.current(found["id"], found["cred"])


@bp.before_request
def _csrf():
    if request.method == "POST":
        sessions.check_csrf()


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    if request.method == "GET":
        if _learner():
            return redirect(url_for("learner.me"))
        return render_template("me/signin.html", note=request.args.get("note"))
    limits.take(SIGN_IN)
    email = request.form.get("email", "").strip()[:EMAIL_MAX]
    limits.take_key(SIGN_IN_ACCOUNT, "account:" + email.lower())
    try:
        who = learner_sessions.sign_in(email, request.form.get("password", "")[:PASSWORD_MAX])
    except Refused as exc:
        return render_template("me/signin.html", error=str(exc), email=email), 401
    sessions.start(KIND, {"id": who.learner_id, "cred": who.credential})
    return redirect(url_for("learner.me"), 303)


@bp.route("/signout", methods=["POST"])
def signout():
    sessions.end()
    return redirect(url_for("learner.signin", note="signed-out"), 303)


@bp.route("/me")
def me():
    who = _learner()
    if who is None:
        return redirect(url_for("learner.signin"))
    return render_template("me/me.html", learner=who, trainings=learner_sessions.trainings(who.learner_id),
                           redeemed=request.args.get("redeemed"))


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    if request.method == "GET":
        return render_template("me/forgot.html")
    limits.take(FORGOT)
    learner_sessions.request_reset(request.form.get("email", "").strip()[:EMAIL_MAX])
    return render_template("me/forgot.html", sent=True)


@bp.route("/redeem", methods=["GET", "POST"])
def redeem():
    who = _learner()
    if who is None:
        return redirect(url_for("learner.signin", note="redeem"))
    if request.method == "GET":
        return render_template("me/redeem.html")
    limits.take(REDEEM)
    limits.take_key(REDEEM_ACCOUNT, f"learner:{who.learner_id}")
    typed = request.form.get("code", "")[:64]
    try:
        codes.redeem(who.learner_id, typed)
    except Refused as exc:
        shown = "".join(ch for ch in typed if ch.isprintable())  # never echo control characters
        return render_template("me/redeem.html", error=str(exc), code=shown), 409 if exc.code == "taken" else 400
    return redirect(url_for("learner.me", redeemed=1), 303)
