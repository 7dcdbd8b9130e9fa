"""The roster commands: `regtui batch plan | apply | template | history`."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from regtui.cli.common import emit, json_default, print_table, read_text, setup
from regtui.core.errors import UsageError


def _batch_gc(young: int = 200_000) -> None:
    """A roster of 100,000 rows makes millions of small objects and few cycles: collect rarely
    (a young collection every ``young`` new container objects)."""
    import gc

    gc.freeze()
    gc.set_threshold(young, 50, 1000)


def _batch_read(args: argparse.Namespace, on_parse: Callable[[], Any] | None = None):
    from batch import progress, read_roster

    with progress.bar(progress.wanted(getattr(args, "json", False)), "reading") as bar:
        return read_roster(args.roster, sheet=args.sheet, default_action=args.action, default_pool=args.pool,
                           date_format=args.date_format, progress=lambda done, total: bar("rows", done, total),
                           on_parse=on_parse)


def _batch_pool_ref(args: argparse.Namespace, rows) -> str:
    if args.pool:
        return args.pool
    refs = {str(r.pool).strip() for r in rows.rows if getattr(r, "pool", None) not in (None, "")}
    if len(refs) == 1:
        return refs.pop()
    if not refs:
        raise UsageError("Which pool? Give --pool POOL or fill the pool column (see `regtui pools`).")
    raise UsageError(f"The roster names {len(refs)} pools ({', '.join(sorted(refs)[:5])}); a plan is for one pool: "
                     "give --pool or split the file.")


def _batch_start_read(args: argparse.Namespace) -> Callable[[], Any]:
    """Read the roster in a thread; return once python-calamine parses the sheet (it lets go of
    the GIL then), so that the caller opens the database meanwhile. The returned function waits
    for the rows or raises what reading raised."""
    import threading

    box: dict[str, Any] = {}
    parsing = threading.Event()

    def read() -> None:
        try:
            box["rows"] = _batch_read(args, on_parse=parsing.set)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            box["error"] = exc
        finally:
            parsing.set()

    reader = threading.Thread(target=read, name="roster-reader", daemon=True)
    reader.start()
    parsing.wait()

    def rows():
        reader.join()
        if "error" in box:
            raise box.pop("error")
        return box["rows"]

    return rows


def _batch_make_plan(args: argparse.Namespace, actor, read_rows: Callable[[], Any] | None = None):
    from batch import snapshot
    from batch.plan import keys_of, make_plan, revoke_limit
    from regtui.core.services import pools

    if args.max_revoke is not None:
        if not args.sync:
            raise UsageError("--max-revoke goes with --sync.")
        try:
            revoke_limit(args.max_revoke, 0)
        except ValueError:
            raise UsageError(f"--max-revoke {args.max_revoke!r}: give a number like 25 or a percentage like 10%.") from None
    rows = read_rows() if read_rows is not None else _batch_read(args)
    pool = pools.get(actor, _batch_pool_ref(args, rows))
    snap = snapshot.take(pool, keys_of(rows))
    plan = make_plan(rows, snap, sync=args.sync, max_revoke=args.max_revoke, skip_invalid=args.skip_invalid)
    return rows, plan


def _batch_outputs(args: argparse.Namespace, rows, plan) -> None:
    if getattr(args, "out", None):
        from pathlib import Path

        Path(args.out).write_text(plan.to_json(), encoding="utf-8")
        if not getattr(args, "json", False):
            print(f"Plan saved to {args.out}: `regtui batch apply {args.out}` applies exactly it.", file=sys.stderr)
    if getattr(args, "report", None) and rows is not None:
        from batch.report import write_report

        written = write_report(args.report, rows, plan)
        if not getattr(args, "json", False):
            print(f"Report with a status for every row: {written}", file=sys.stderr)


def _batch_print_plan(plan, file=None) -> None:
    from batch.plan import diff_text

    (file or sys.stdout).write(diff_text(plan))  # one write: 100,000 lines in one go


def _batch_json(plan, extra: dict | None = None) -> None:
    data = plan.report_json()
    if extra:
        data.update(extra)
    import orjson

    sys.stdout.write(orjson.dumps(data, default=json_default, option=orjson.OPT_INDENT_2).decode() + "\n")


def cmd_batch_plan(args: argparse.Namespace) -> int:
    _batch_gc(1_000_000)  # a plan holds little but the roster and its changes: one or two collections
    read_rows = _batch_start_read(args)  # reading overlaps opening the database
    actor = setup(args)
    rows, plan = _batch_make_plan(args, actor, read_rows)
    if args.json:
        _batch_json(plan)
    else:
        _batch_print_plan(plan)
        sys.stdout.flush()
    _batch_outputs(args, rows, plan)
    return 1 if plan.errors else 0


def cmd_batch_apply(args: argparse.Namespace) -> int:
    from batch import progress
    from batch.apply import apply_plan

    _batch_gc()
    actor = setup(args)
    rows = None
    if args.roster.lower().endswith(".json"):
        from batch.plan import Plan

        try:
            plan = Plan.from_json(read_text(args.roster))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{args.roster} is not a plan file made by `regtui batch plan --out`: {exc}.") from None
        if plan.has_passwords:
            raise UsageError("This plan has rows with passwords, which are never saved in a plan file; "
                             "apply the roster itself instead.")
    else:
        rows, plan = _batch_make_plan(args, actor)
    _batch_outputs(args, rows, plan)
    if plan.blocking_errors:
        if args.json:
            _batch_json(plan, {"applied": False})
        else:
            _batch_print_plan(plan)
            print(f"regtui: the plan has {len(plan.blocking_errors)} error(s); nothing was applied.", file=sys.stderr)
        return 1
    if not args.yes:
        if args.json or not sys.stdin.isatty():
            raise UsageError("Applying changes the database: add --yes (or run on a terminal to be asked).")
        _batch_print_plan(plan)
        answer = input("Apply this plan? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing was applied.")
            return 1
    del rows  # the roster as read is no longer needed: keep the apply's peak memory down
    with progress.bar(progress.wanted(args.json), "applying") as bar:
        batch = apply_plan(actor, plan, progress=bar)
    if args.json:
        _batch_json(plan, {"applied": True, "batch": batch.id})
    else:
        s = plan.summary()
        print(f"Batch {batch.id} applied to pool {plan.pool_id}: " + ", ".join(
            f"{s[k]} {k}" for k in ("create", "assign", "invite", "revoke", "extend", "unchanged")) +
            (f"; {s['error']} invalid rows skipped" if s["error"] else "") +
            f". Seats available now: {plan.available_after}. Emails are in the outbox.")
    return 0


def cmd_batch_template(args: argparse.Namespace) -> int:
    from batch.template import write_template

    write_template(args.out)
    print(f"Roster template written to {args.out}.")
    return 0


def cmd_batch_history(args: argparse.Namespace) -> int:
    from regtui.core.services.batches import history

    actor = setup(args)
    data = history(actor, limit=args.limit)
    return emit(args, data, lambda: print_table(
        [(d["id"], d["applied_at"], d["operator"], d["pool"], d["file_name"], d["sha256"][:12],
          " ".join(f"{k}={v}" for k, v in d["counts"].items() if v), d["outcome"]) for d in data],
        ["batch", "time", "operator", "pool", "file", "sha256", "counts", "outcome"]))
