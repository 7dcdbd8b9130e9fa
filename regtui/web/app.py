"""Flask app for the links learners get by email.

- ``/claim/<token>``: accept an invitation (first to accept wins).
- ``/set-password/<token>``: use a single-use set-password link.

Every write goes through the services in ``regtui.core.services``; this module only
reads what it shows, parses the form and maps ``Refused`` to a page and a status:
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
from regtui.core.models import Learner, Pool, database
from regtui.core.services import invitations, learners, passwords
from regtui.web import limits, staff

log = logging.getLogger(__name__)

NAME_MAX = 100
PASSWORD_MAX = 1024

# Refused codes that mean "this link no longer works" (410) or "never was a link" (404).
ENDED_CODES = {"expired", "accepted", "invalidated", "cancelled", "taken", "used-link", "expired-link"}
BAD_LINK_CODES = {"bad-link"}
# Refused codes the person can fix by changing what they typed (400, the form again).
FIXABLE_CODES = {"missing-name", "weak-password", "passwords-differ", "missing-password", "too-long"}

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
    database.connect(reuse_if_open=True)
    try:
        dbmod.require_schema()
    finally:
        database.close()

    app = RegtuiWeb(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, PROPAGATE_EXCEPTIONS=False, TRAP_HTTP_EXCEPTIONS=False)

    @app.before_request
    def _open_connection():
        if request.endpoint != "static":
            database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_connection(exc):
        if not database.is_closed():
            database.close()

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

    from regtui.web.hooks import bp as shop_hooks

    app.register_blueprint(shop_hooks)
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


class _FormError(Refused):
    pass


def _password_pair(form) -> str:
    password, confirm = form.get("password", ""), form.get("confirm", "")
    if not password:
        raise _FormError("Please choose a password.", code="missing-password")
    if len(password) > PASSWORD_MAX:
        raise _FormError(f"A password can have at most {PASSWORD_MAX} characters.", code="too-long")
    if password != confirm:
        raise _FormError("The two passwords are not the same. Please type the same password twice.", code="passwords-differ")
    return password


def _claim(token: str):
    try:
        inv = invitations.check(token)
    except Refused as exc:
        return _ended(exc, "invitation")
    pool = Pool.get_by_id(inv.code.pool_id)
    existing = Learner.get_or_none(Learner.email_key == inv.email_key)
    mode = "button" if existing and existing.password_hash else "password" if existing else "full"
    context = {
        "token": token, "invitation": inv, "session": pool.session, "product": pool.session.product,
        "customer": pool.order.customer, "learner": existing, "mode": mode,
        "first_name": "", "last_name": "",
    }
    if request.method == "GET":
        return render_template("claim.html", **context)

    form = request.form
    first, last = form.get("first_name", "").strip(), form.get("last_name", "").strip()
    context.update(first_name=first, last_name=last)
    try:
        password: str | None = None
        if mode == "full":
            if len(first) > NAME_MAX or len(last) > NAME_MAX:
                raise _FormError(f"A name can have at most {NAME_MAX} characters.", code="too-long")
        if mode in ("full", "password"):
            password = _password_pair(form)
        learner = invitations.accept(token, first, last, password) if mode != "button" else invitations.accept(token)
    except Refused as exc:
        if exc.code in FIXABLE_CODES:
            return render_template("claim.html", error=str(exc), **context), 400
        return _ended(exc, "invitation")
    log.info("invitation %s accepted", inv.id)
    return render_template("claimed.html", learner=learner, session=pool.session, product=pool.session.product,
                           had_password=mode == "button")


def _set_password(token: str):
    try:
        learner = learners.check_password_token(token)
    except Refused as exc:
        return _ended(exc, "set-password")
    if request.method == "GET":
        return render_template("set_password.html", token=token, learner=learner)
    try:
        learner = learners.set_password(token, _password_pair(request.form))
    except Refused as exc:
        if exc.code in FIXABLE_CODES:
            return render_template("set_password.html", token=token, learner=learner, error=str(exc)), 400
        return _ended(exc, "set-password")
    log.info("password set through the link of learner %s", learner.id)
    return render_template("password_set.html", learner=learner)
