"""The one way to plan and apply a roster, for every face (CLI, TUI, SSH door, staff pages) and the tests.

Plan a roster (a dry run: nothing is written but the files asked for)::

    from batch.planning import PlanOptions, plan_roster

    result = plan_roster(actor, "people.xlsx", PlanOptions(pool="1001-1"))
    result = plan_roster(actor, sys.stdin.buffer, PlanOptions(pool="1001-1"))  # bytes or a binary stream
    result.plan          # batch.plan.Plan: changes, unchanged, errors, warnings, seats
    result.diff()        # the human diff, one line per row, then a summary line
    result.plan.report_json()  # the --json shape

The roster is a path to a regular file, its bytes, or a binary stream such as standard input:
.xlsx or CSV/text is told from the bytes, at most 50 MB (``Limits.max_file_bytes``). The pool is
``PlanOptions.pool`` (an id or ORDER-LINE), else the one pool the roster's pool column names.

Apply exactly a reviewed plan (one transaction, refused whole if the pool moved since)::

    batch = apply_result(actor, result)             # the plan just made
    text = save_plan(result.plan)                   # PLAN.json, with a MAC
    batch = apply_saved(actor, text)                # refuses an edited file (exit 2), changes nothing

Everything a user can get wrong raises a ``RegtuiError`` whose ``str`` is one sentence.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Union

import orjson

from batch.errors import RosterError
from batch.diff import diff_text
from batch.plan import Plan, revoke_limit
from batch.planner import conceal_accounts, keys_of, make_plan
from batch.readers import Limits, read_stream
from batch.progress import Progress
from batch.roster import RosterRows, read_roster
from regtui.core.errors import UsageError

Source = Union[str, os.PathLike, bytes, BinaryIO]
MAC_PURPOSE = b"plan"


@dataclass(frozen=True)
class PlanOptions:
    """How to read and plan a roster. Each field is the CLI option of the same name.

    ``controls`` names, for error sentences, the option or control that sets each field
    (the CLI's ``--pool``; a TUI passes the names of its own controls)."""

    pool: str | None = None
    action: str | None = None
    sync: bool = False
    max_revoke: str | int | None = None
    skip_invalid: bool = False
    date_format: str | None = None
    sheet: str | None = None
    name: str | None = None  # what to call a roster given as bytes or a stream (default "stdin")
    out: str | os.PathLike | None = None  # save the plan here (PLAN.json, with a MAC)
    report: str | os.PathLike | None = None  # write every row with its status here (.xlsx or .csv)
    controls: dict = field(default_factory=dict, compare=False)

    def control(self, name: str) -> str:
        return self.controls.get(name) or "--" + name.replace("_", "-")


@dataclass(frozen=True)
class PlanResult:
    """A roster read and planned against one pool. ``out``/``report``: the files written, if asked."""

    roster: RosterRows
    plan: Plan
    pool: Any  # regtui.core.models.Pool
    out: Path | None = None
    report: Path | None = None

    def diff(self) -> str:
        return diff_text(self.plan)


def plan_roster(actor, source: Source, options: PlanOptions | None = None, *,
                progress: Progress | None = None) -> PlanResult:
    """Read ``source``, find its pool, plan it against the pool as it is now, write ``options.out``
    and ``options.report`` if given. ``actor`` is an Actor, or a function returning one: it is then
    called while the roster is being parsed (opening the database overlaps reading)."""
    options = options or PlanOptions()
    check_options(options)
    if hasattr(source, "read"):
        source = read_stream(source)  # type: ignore[arg-type]
    roster, actor = _read_with_actor(source, options, actor, progress)
    from batch import pool_state as snapshot

    pool = resolve_pool(actor, options, roster)
    snap = snapshot.take(pool, keys_of(roster), snapshot.dates_of(roster))
    plan = make_plan(roster, snap, sync=options.sync, max_revoke=options.max_revoke,
                     skip_invalid=options.skip_invalid, may_extend=actor.can("access.extend"))
    if not actor.is_admin:  # a manager may not learn whether another customer's learner has an account
        plan = conceal_accounts(plan)
    result = PlanResult(roster, plan, pool)
    return write_outputs(result, options)


def check_options(options: PlanOptions) -> None:
    """Options that contradict each other, before anything is read."""
    if options.max_revoke is None:
        return
    if not options.sync:
        raise UsageError(f"{options.control('max_revoke')} goes with {options.control('sync')}.")
    try:
        revoke_limit(options.max_revoke, 0)
    except ValueError:
        raise UsageError(f"{options.control('max_revoke')} {options.max_revoke!r}: give a number like 25 "
                         "or a percentage like 10%.") from None


def _read(source, options: PlanOptions, progress: Progress | None, on_parse=None) -> RosterRows:
    return read_roster(source, name=options.name, sheet=options.sheet, default_action=options.action,
                       default_pool=options.pool, date_format=options.date_format, progress=progress,
                       on_parse=on_parse)


def _read_with_actor(source, options: PlanOptions, actor, progress: Progress | None):
    """The roster and the actor; with an actor function, read in a thread that lets the caller
    open the database once python-calamine parses the sheet (it lets go of the GIL then)."""
    if not callable(actor):
        return _read(source, options, progress), actor
    box: dict[str, Any] = {}
    parsing = threading.Event()

    def read() -> None:
        try:
            box["rows"] = _read(source, options, progress, on_parse=parsing.set)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            box["error"] = exc
        finally:
            parsing.set()

    reader = threading.Thread(target=read, name="roster-reader", daemon=True)
    reader.start()
    parsing.wait()
    try:
        actor = actor()
    finally:
        reader.join()
    if "error" in box:
        raise box.pop("error")
    return box["rows"], actor


def resolve_pool(actor, options: PlanOptions, roster: RosterRows):
    """The pool a roster is for: ``options.pool``, else the one pool its rows name."""
    from regtui.core.services import pools

    return pools.get(actor, options.pool or pool_named_by(roster, options))


def pool_choices(actor) -> list[tuple[str, int]]:
    """(label, pool id) for each pool the operator may plan a roster for, the label starting with
    the pool's name as rosters write it (``1001-2``: the second pool of order 1001), for a face's
    pool picker."""
    from regtui.core.services import pools

    rows = pools.listing(actor)
    by_order: dict[str, list[int]] = {}
    for r in rows:
        by_order.setdefault(r.order, []).append(r.id)
    line = {pid: n for ids in by_order.values() for n, pid in enumerate(sorted(ids), 1)}
    return [(f"{r.order}-{line[r.id]}  {r.customer}, {r.session} ({r.available}/{r.seats} free)", r.id) for r in rows]


def pool_named_by(roster: RosterRows, options: PlanOptions) -> str:
    """The one pool reference the roster's pool column names (every row, valid or not)."""
    refs = {str(r.pool).strip() for r in roster.rows if getattr(r, "pool", None) not in (None, "")}
    column = roster.header.columns.get("pool")
    if column is not None:
        refs.update(str(raw.cells[column]).strip() for raw in roster.raw.rows
                    if column < len(raw.cells) and raw.cells[column] not in (None, "")
                    and str(raw.cells[column]).strip())
    if len(refs) == 1:
        return refs.pop()
    if not refs:
        raise UsageError(f"Which pool? Give {options.control('pool')} or fill the pool column (see `regtui pools`).")
    raise UsageError(f"The roster names {len(refs)} pools ({', '.join(sorted(refs)[:5])}); a plan is for one pool: "
                     f"give {options.control('pool')} or split the file.")


def write_outputs(result: PlanResult, options: PlanOptions) -> PlanResult:
    """Save the plan and write the report, if the options ask for them."""
    out = report = None
    if options.out:
        out = Path(options.out)
        _write_file(out, save_plan(result.plan), options.control("out"))
    if options.report:
        from batch.report import write_report

        _check_target(Path(options.report), options.control("report"))
        report = write_report(options.report, result.roster, result.plan)
    return replace(result, out=out, report=report) if (out or report) else result


def _check_target(path: Path, option: str) -> None:
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name.")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {path}: there is no folder {path.parent}.")


def _write_file(path: Path, text: str, option: str) -> None:
    _check_target(path, option)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{option} {path} cannot be written ({e.strerror}).") from None


# -- saved plans ---------------------------------------------------------------------------------


def _mac(body: bytes) -> str:
    from regtui.core.services import tokens

    return hmac.new(tokens.secret_key(), MAC_PURPOSE + b"\n" + body, hashlib.sha256).hexdigest()


def _canonical(data: dict) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def save_plan(plan: Plan) -> str:
    """PLAN.json: the plan, with a MAC (HMAC-SHA256 under the installation's secret key) over
    everything in it (pool, options, fingerprint, every change), so an edited file is refused."""
    data = orjson.loads(plan.to_json())
    data["mac"] = _mac(_canonical(data))
    return orjson.dumps(data).decode()


def load_plan(text: str | bytes, name: str = "The plan file") -> Plan:
    """The plan in a PLAN.json, or UsageError (exit 2) if it is not one, was edited or holds passwords."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise UsageError(f"{name} is not a plan file made by `regtui batch plan --out`: it is not valid JSON.") from None
    if not isinstance(data, dict) or "version" not in data:
        raise UsageError(f"{name} is not a plan file made by `regtui batch plan --out`: it holds no plan.")
    mac = data.pop("mac", None)
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(_canonical(data))):
        raise UsageError(f"{name} was changed after `regtui batch plan --out` saved it (or saved by another "
                         "installation); nothing was applied: make the plan again.")
    try:
        plan = Plan.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{name} is not a plan file made by `regtui batch plan --out`: {exc}.") from None
    if plan.has_passwords:
        raise UsageError("This plan has rows with passwords, which are never saved in a plan file; "
                         "apply the roster itself instead.")
    return plan


def read_plan_file(path: str | os.PathLike) -> Plan:
    from batch.readers import read_regular_file

    p = Path(path)
    try:
        data = read_regular_file(p, Limits.max_file_bytes * 4)
    except RosterError as e:
        raise UsageError(str(e)) from None
    return load_plan(data, name=p.name)


# -- applying ------------------------------------------------------------------------------------


def apply_result(actor, result: PlanResult | Plan, *, progress: Progress | None = None):
    """Apply exactly this plan (the Batch row is returned); Refused, nothing changed, if it has
    blocking errors or the pool changed since it was made."""
    from batch.apply import apply_plan

    plan = result.plan if isinstance(result, PlanResult) else result
    return apply_plan(actor, plan, progress=progress)


def apply_saved(actor, file: str | os.PathLike | bytes, *, progress: Progress | None = None):
    """Apply a PLAN.json (a path, or its bytes) made by ``save_plan``; an edited file is refused."""
    plan = load_plan(file) if isinstance(file, (bytes, bytearray)) else read_plan_file(file)
    return apply_result(actor, plan, progress=progress)


__all__ = ["PlanOptions", "PlanResult", "plan_roster", "apply_result", "apply_saved", "save_plan", "load_plan",
           "read_plan_file", "check_options", "resolve_pool", "pool_choices"]
