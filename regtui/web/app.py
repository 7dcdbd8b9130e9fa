"""Flask app for the links learners get by email.

- ``/claim/<token>``: accept an invitation (first to accept wins).
- ``/set-password/<token>``: use a single-use set-password link.

The pages only parse, call a service and render what it returns (plain values: this face
imports no models), and map ``Refused`` to a page and a status:
fixable input -> the form again (400); an ended link -> a sentence (410, or 404 for a
link that never was one). The token in the URL is the capability, so there is no CSRF
token, but a POST with an ``Origin`` header from another host is refused. Passwords are
never logged, and tracebacks are never shown (nor is the token written to the log).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Callable
from urllib.parse import urlsplit

from flask import Flask, abort, render_template, request
from werkzeug.exceptions import HTTPException

from regtui import config
from regtui.core import db as dbmod
from regtui.core.errors import Refused
from regtui.core.services import invitations, learners, passwords
from regtui.web import limits, staff

log = logging.getLogger(__name__)

# Refused codes that mean "this link no longer works" (410) or "never was a link" (404).
ENDED_CODES = {"expired", "accepted", "invalidated", "cancelled", "taken", "used-link", "expired-link"}
BAD_LINK_CODES = {"bad-link"}
# Refused codes the person can fix by changing what they typed (400, the form again).
FIXABLE_CODES = {"missing-name", "name-too-long", "bad-name", "weak-password", "passwords-differ", "missing-password"}

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: browsers send "Origin: null" on a form post from a no-referrer page,
    # which the same-origin check refuses; a link token still never leaves this site in a Referer
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

# Per client address (see limits.py): wrong or garbled link tokens (after the 20th in ten minutes
# every link page answers 429 until the budget refills), and form posts on the link pages.
WRONG_LINKS = limits.Rule("wrong-links", count=20, per=dt.timedelta(minutes=10))
LINK_POSTS = limits.Rule("link-posts", count=60, per=dt.timedelta(minutes=10))
LINK_PAGES = {"claim", "set_password"}

_TOKEN_IN_PATH = re.compile(r"^/(claim|set-password)/.*$")


def redact(path: str) -> str:
    """The path with any link token replaced, for logs (the token is a capability)."""
    return _TOKEN_IN_PATH.sub(r"/\1/<token>", path)


class RegtuiWeb(Flask):
    def log_exception(self, exc_info) -> None:
        # Flask's default logs request.path, which holds the token; the traceback itself
        # has no form values (no password) in it.
        self.logger.error("Exception on %s [%s]", redact(request.path), request.method, exc_info=exc_info)


def create_app(db_url: str | None = None) -> Flask:
    """The web app, bound to the database at ``db_url`` (default: ``config.database_url()``)."""
    dbmod.open_database(config.database_url(db_url))
    dbmod.connect()
    try:
        dbmod.require_schema()
    finally:
        dbmod.close()

    app = RegtuiWeb(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, PROPAGATE_EXCEPTIONS=False, TRAP_HTTP_EXCEPTIONS=False)

    @app.before_request
    def _open_connection():
        if request.endpoint != "static":
            dbmod.connect()

    @app.teardown_request
    def _close_connection(exc):
        dbmod.close()

    @app.before_request
    def _rate_limits():
        if request.endpoint in LINK_PAGES:
            limits.refuse_if_over(WRONG_LINKS)
            if request.method == "POST":
                limits.take(LINK_POSTS)

    @app.before_request
    def _same_origin_posts_only():
        if request.method == "POST" and not _origin_allowed(request.headers.get("Origin")):
            abort(403)

    @app.context_processor
    def _constants():
        return {"min_length": passwords.MIN_LENGTH}

    @app.after_request
    def _security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)  # a blueprint may set its own
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        sentences = {
            403: "This form can only be sent from this site.",
            404: "There is no page here. If you followed a link from an email, check that you copied the whole link.",
            405: "That is not something this page does.",
            413: "That was more than this page accepts.",
        }
        sentence = sentences.get(exc.code or 500, "Something went wrong. Please try again later.")
        if isinstance(exc, limits.TooManyTries):
            sentence = (f"Too many tries from your network. Please wait {limits.wait_in_words(exc.retry_after_seconds)} "
                        "and try again.")
        # keep the exception's own headers (Retry-After on a 429, Allow on a 405)
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return render_template("message.html", title=exc.name, sentence=sentence), exc.code or 500, headers

    @app.errorhandler(500)
    def _server_error(exc):
        return render_template("message.html", title="Something went wrong",
                               sentence="Something went wrong on our side. Please try again in a few minutes."), 500

    from regtui.web import learner, sessions
    from regtui.web.api import api
    from regtui.web.hooks import bp as shop_hooks

    sessions.init_app(app)
    app.register_blueprint(shop_hooks)
    app.register_blueprint(api)
    app.register_blueprint(learner.bp)
    app.add_url_rule("/", "index", _index)
    app.add_url_rule("/claim/<token>", "claim", _claim, methods=["GET", "POST"])
    app.add_url_rule("/set-password/<token>", "set_password", _set_password, methods=["GET", "POST"])
    staff.init_app(app)  # /staff: the roster page for HR (sign-in, pools, rosters)
    return app


def serve(host: str = "127.0.0.1", port: int = 8080, db_url: str | None = None,
          server_limits: limits.ServerLimits | None = None,
          background: Callable[[], object] | None = None) -> None:
    """Run the web app with waitress, within ``server_limits`` (default: ``ServerLimits.from_env()``),
    until interrupted; ``background`` (the scheduler's thread) starts once the database is open."""
    import waitress

    options = (server_limits or limits.ServerLimits.from_env()).waitress_options()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(db_url)
    server = waitress.create_server(app, host=host, port=port, **options)  # bound: a taken port fails here
    server.print_listen("Serving on http://{}:{}")
    if background is not None:
        background()
    server.run()


def _origin_allowed(origin: str | None) -> bool:
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower() if "://" in origin else ""
    if not netloc:
        return False  # "null" and other opaque origins
    return netloc in {request.host.lower(), urlsplit(config.site_url()).netloc.lower()}


# --- pages -------------------------------------------------------------------------


def _index():
    return render_template("index.html")


def _ended(exc: Refused, what: str):
    if exc.code in BAD_LINK_CODES:
        limits.count(WRONG_LINKS)
    status = 404 if exc.code in BAD_LINK_CODES else 410 if exc.code in ENDED_CODES else 409
    title = {404: "This link is not valid", 410: "This link no longer works"}.get(status, "This did not work")
    return render_template("ended.html", title=title, sentence=str(exc), what=what), status


def _claim(token: str):
    try:
        form = invitations.claim_form(token)
    except Refused as exc:
        return _ended(exc, "invitation")
    if request.method == "GET":
        return render_template("claim.html", form=form, first_name="", last_name="")

    typed = request.form
    first, last = typed.get("first_name", "").strip(), typed.get("last_name", "").strip()
    try:
        claimed = invitations.claim(token, first, last, typed.get("password", ""), typed.get("confirm", ""))
    except Refused as exc:
        if exc.code in FIXABLE_CODES:
            return render_template("claim.html", form=form, first_name=first, last_name=last, error=str(exc)), 400
        return _ended(exc, "invitation")
    log.info("invitation %s accepted", token.partition(".")[0])
    return render_template("claimed.html", claimed=claimed)


def _set_password(token: str):
    try:
        page = learners.password_page(token)
    except Refused as exc:
        return _ended(exc, "set-password")
    if request.method == "GET":
        return render_template("set_password.html", page=page)
    try:
        page = learners.choose_password(token, request.form.get("password", ""), request.form.get("confirm", ""))
    except Refused as exc:
        if exc.code in FIXABLE_CODES:
            return render_template("set_password.html", page=page, error=str(exc)), 400
        return _ended(exc, "set-password")
    log.info("password set through the link of learner %s", token.partition(".")[0])
    return render_template("password_set.html", page=page)
