"""The read-only pull API for learning platforms that poll: ``/api/v1``.

- ``GET /api/v1/accesses?changed_since=CURSOR[&limit=N]``: the newest state of every access
  changed after the cursor, a page at a time (``next_cursor``, ``has_more``); start with 0.
- ``GET /api/v1/learners/EMAIL/accesses``: one learner's accesses.

Every call needs ``Authorization: Bearer TOKEN`` (``regtui tokens add NAME``); without a valid one
the answer is 401 with ``WWW-Authenticate: Bearer``, and wrong tokens count against the client's
address (429 when over). Answers are JSON, never cached.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request

from regtui.core.errors import RegtuiError
from regtui.core.services import apitokens, feed
from regtui.web import limits

api = Blueprint("api", __name__, url_prefix="/api/v1")

# per client address: wrong tokens (a guesser is stopped long before a 256-bit token could be
# found), and calls (a platform polling once a second stays well inside)
WRONG_TOKENS = limits.Rule("api-wrong-tokens", count=20, per=dt.timedelta(minutes=10))
CALLS = limits.Rule("api-calls", count=600, per=dt.timedelta(minutes=1))


def _error(status: int, sentence: str, **headers):
    response = jsonify({"error": sentence})
    response.status_code = status
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


@api.before_request
def _authorise():
    limits.refuse_if_over(WRONG_TOKENS)
    limits.take(CALLS)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or apitokens.holder(token.strip()) is None:
        limits.count(WRONG_TOKENS)
        return _error(401, "This API needs a valid token: Authorization: Bearer TOKEN (regtui tokens add NAME).",
                      WWW_Authenticate='Bearer realm="regtui"')
    return None


@api.errorhandler(RegtuiError)
def _refused(exc: RegtuiError):
    return _error(400, str(exc))


@api.get("/accesses")
def accesses():
    cursor = feed.parse_cursor(request.args.get("changed_since"))
    limit = request.args.get("limit", str(feed.PAGE_MAX))
    if not (limit.isascii() and limit.isdigit() and 0 < len(limit) <= 4):
        return _error(400, f"limit is a number from 1 to {feed.PAGE_MAX}.")
    return jsonify(feed.changes(cursor, int(limit)).as_dict())


@api.get("/learners/<path:email>/accesses")
def learner_accesses(email: str):
    return jsonify({"email": email, "accesses": feed.learner_accesses(email)})
