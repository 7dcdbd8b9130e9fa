"""The roster page for HR: operators sign in on ``/staff`` and plan and apply rosters in a browser.

- ``/staff/signin`` (rate-limited per address), ``/staff/signout``: a password (Argon2id) and, for
  operators who have one, a TOTP code (services.staff). The session is Flask's signed cookie
  (HttpOnly, SameSite=Lax, Secure when the site is HTTPS), keyed from the installation's secret;
  it ends after ``IDLE`` without a request, after ``LIFETIME`` in any case, and when the operator's
  password changes (the cookie carries a digest of the credential it was made with).
- ``/staff/pools``: the operator's pools (a manager sees only their customer's).
- ``/staff/rosters``: upload an xlsx or csv (at most 50 MB), see the dry-run diff, download the
  report, and apply. The upload is kept in a private folder under the data folder for ``KEPT``; the
  form carries its id and the MAC of the plan shown. "Apply" plans the same bytes again and applies
  only if that plan's MAC is the one shown, so what is applied is exactly what was reviewed;
  if the pool changed since, the plans differ and nothing is applied.

Every form carries a CSRF token bound to the session. No JavaScript; the claim pages' headers.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import secrets
import shutil
from pathlib import Path

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, session, url_for

from regtui import config
from regtui.core.errors import NotAllowed, RegtuiError
from regtui.web import limits, sessions

bp = Blueprint("staff", __name__, url_prefix="/staff")

IDLE = dt.timedelta(minutes=30)
LIFETIME = dt.timedelta(hours=12)
KEPT = dt.timedelta(hours=2)  # how long an upload waits for its "Apply"
UPLOAD_MAX = 50 * 1024 * 1024
FORM_OVERHEAD = 256 * 1024  # the multipart form around the file
SHOWN_MAX = 1000  # rows of the diff shown on the page; the report has all of them
SIGN_IN = limits.Rule("staff-sign-in", count=10, per=dt.timedelta(minutes=10))
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def init_app(app) -> None:
    """Register the blueprint (its sessions and CSRF tokens: regtui.web.sessions)."""
    app.register_blueprint(bp)


@bp.before_request
def _check_csrf():
    if request.method == "POST":
        if request.endpoint == "staff.upload":
            request.max_content_length = UPLOAD_MAX + FORM_OVERHEAD
        sessions.check_csrf()


def _signed_in():
    """The operator of this session as they are now, or None (signed out, idle, removed, password changed)."""
    from regtui.core.services import staff

    found = sessions.subject("op", idle=IDLE, lifetime=LIFETIME)
    if not found or found.get("cred") != staff.credential_digest(found.get("name", "")):
        return None
    return staff.current(found["name"])


def _actor_or_redirect():
    actor = _signed_in()
    if actor is None:
        expired = "op" in session
        session.clear()
        return None, redirect(url_for("staff.signin", expired=1 if expired else None))
    return actor, None


@bp.route("/")
def home():
    return redirect(url_for("staff.pools"))


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    from regtui.core.services import staff

    if request.method == "GET":
        note = "You were signed out after a while without activity; please sign in again." if request.args.get("expired") else None
        return render_template("staff/signin.html", note=note)
    limits.take(SIGN_IN)
    name = request.form.get("name", "").strip()
    try:
        actor = staff.sign_in(name, request.form.get("password", ""), request.form.get("code", "").strip() or None)
    except RegtuiError as exc:
        return render_template("staff/signin.html", error=str(exc), name=name), 401
    sessions.start("op", {"name": actor.name, "cred": staff.credential_digest(actor.name)})
    return redirect(url_for("staff.pools"), 303)


@bp.route("/signout", methods=["POST"])
def signout():
    sessions.end()
    return redirect(url_for("staff.signin"), 303)


# --- pools ----------------------------------------------------------------------------------------

@bp.route("/pools")
def pools():
    from regtui.core.services import pools as pool_service

    actor, away = _actor_or_redirect()
    if away:
        return away
    rows = pool_service.listing(actor)
    return render_template("staff/pools.html", actor=actor, pools=rows)


# --- rosters --------------------------------------------------------------------------------------

def _uploads() -> Path:
    folder = config.data_dir() / "staff-uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _sweep_old_uploads() -> None:
    cutoff = sessions.now() - KEPT.total_seconds()
    for item in _uploads().iterdir():
        try:
            if item.stat().st_mtime < cutoff:
                shutil.rmtree(item, ignore_errors=True)
        except OSError:
            pass


def _upload_folder(upload_id: str, actor) -> Path:
    """The folder of an upload this operator made (404 for anything else)."""
    if not _UPLOAD_ID.fullmatch(upload_id or ""):
        abort(404)
    folder = _uploads() / upload_id
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        abort(404)
    if meta.get("operator") != actor.name:
        abort(404)
    return folder


def _plan(actor, folder: Path, meta: dict, report: bool = False):
    from batch.planning import PlanOptions, plan_roster

    options = PlanOptions(pool=meta.get("pool") or None, name=meta["file_name"],
                          report=str(folder / "report.xlsx") if report else None,
                          controls={"pool": "the pool", "report": "the report"})
    return plan_roster(actor, (folder / "roster").read_bytes(), options)


def _plan_mac(plan) -> str:
    import orjson

    from batch.planning import save_plan

    return orjson.loads(save_plan(plan))["mac"]


def _refusal(actor, exc: RegtuiError, pools_list, status: int | None = None):
    code = status or (403 if isinstance(exc, NotAllowed) else 409 if exc.exit_code == 1 else 400)
    return render_template("staff/rosters.html", actor=actor, pools=pools_list, error=str(exc)), code


@bp.route("/rosters", methods=["GET"])
def rosters():
    from regtui.core.services import pools as pool_service

    actor, away = _actor_or_redirect()
    if away:
        return away
    return render_template("staff/rosters.html", actor=actor, pools=pool_service.listing(actor))


@bp.route("/rosters", methods=["POST"], endpoint="upload")
def upload():
    from regtui.core.services import pools as pool_service

    actor, away = _actor_or_redirect()
    if away:
        return away
    pools_list = pool_service.listing(actor)
    file = request.files.get("roster")
    if file is None or not file.filename:
        return render_template("staff/rosters.html", actor=actor, pools=pools_list,
                               error="Choose a roster file (.xlsx or .csv) to upload."), 400
    data = file.stream.read(UPLOAD_MAX + 1)
    if len(data) > UPLOAD_MAX:
        return render_template("staff/rosters.html", actor=actor, pools=pools_list,
                               error="The roster is larger than 50 MB; split it into smaller files."), 413
    _sweep_old_uploads()
    upload_id = secrets.token_urlsafe(16)
    folder = _uploads() / upload_id
    folder.mkdir(mode=0o700)
    meta = {"operator": actor.name, "pool": request.form.get("pool", "").strip()[:40],
            "file_name": _safe_name(file.filename)}
    (folder / "roster").write_bytes(data)
    (folder / "meta.json").write_text(json.dumps(meta))
    try:
        result = _plan(actor, folder, meta, report=True)
    except RegtuiError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return _refusal(actor, exc, pools_list)
    return render_template("staff/plan.html", actor=actor, **_plan_view(result.plan, pool_service.row(result.pool)),
                           upload_id=upload_id, mac=_plan_mac(result.plan))


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:120] or "roster"


def _plan_view(plan, pool_row) -> dict:
    """What the plan page shows: every change, unchanged row and error, in row order, up to SHOWN_MAX."""
    from batch.plan import describe

    lines = [{"kind": c.kind, "row": c.row, "email": c.email, "name": f"{c.first_name} {c.last_name}".strip(),
              "detail": describe(c)} for c in (*plan.changes, *plan.unchanged)]
    lines += [{"kind": "error", "row": e.row, "email": "", "name": e.column or "", "detail": e.message,
               "value": "" if e.value is None else str(e.value)} for e in plan.errors]
    lines.sort(key=lambda x: (x["row"] is None, x["row"] or 0))
    warnings = [{"row": w.row, "detail": w.message} for w in plan.warnings]
    return {"plan": plan, "summary": plan.summary(), "lines": lines[:SHOWN_MAX], "hidden": max(0, len(lines) - SHOWN_MAX),
            "warnings": warnings[:100], "pool": pool_row, "blocked": bool(plan.blocking_errors)}


@bp.route("/rosters/<upload_id>/report")
def report(upload_id: str):
    actor, away = _actor_or_redirect()
    if away:
        return away
    folder = _upload_folder(upload_id, actor)
    path = folder / "report.xlsx"
    if not path.exists():
        abort(404)
    meta = json.loads((folder / "meta.json").read_text())
    stem = Path(meta["file_name"]).stem or "roster"
    return send_file(path, as_attachment=True, download_name=f"{stem}-report.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/rosters/<upload_id>/apply", methods=["POST"])
def apply(upload_id: str):
    from batch.planning import apply_result
    from regtui.core.services import pools as pool_service

    actor, away = _actor_or_redirect()
    if away:
        return away
    pools_list = pool_service.listing(actor)
    folder = _upload_folder(upload_id, actor)
    meta = json.loads((folder / "meta.json").read_text())
    try:
        result = _plan(actor, folder, meta)
        if not hmac.compare_digest(_plan_mac(result.plan), request.form.get("mac", "")):
            return _refusal(actor, RegtuiError(
                "The pool changed since this plan was shown (or the plan is not the one shown), so nothing was "
                "applied: upload the roster again to see the plan as things are now."), pools_list, 409)
        batch = apply_result(actor, result)
    except RegtuiError as exc:
        return _refusal(actor, exc, pools_list)
    shutil.rmtree(folder, ignore_errors=True)  # applied: the same upload cannot be applied twice
    current_app.logger.info("staff %s applied batch %s", actor.name, batch.id)
    return render_template("staff/applied.html", actor=actor, batch=batch, summary=result.plan.summary(),
                           plan=result.plan, pool=pool_service.row(result.pool))
