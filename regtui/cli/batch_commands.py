"""The roster commands: `regtui batch plan | apply | template | history`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batch.planning import PlanOptions

from regtui.cli.common import emit_page, json_default, print_table, setup
from regtui.core.errors import UsageError


def _batch_gc(young: int = 200_000) -> None:
    """A roster of 100,000 rows makes millions of small objects and few cycles: collect rarely
    (a young collection every ``young`` new container objects)."""
    import gc

    gc.freeze()
    gc.set_threshold(young, 50, 1000)


def _options(args: argparse.Namespace) -> "PlanOptions":
    from batch.planning import PlanOptions

    return PlanOptions(pool=args.pool, action=args.action, sync=args.sync, max_revoke=args.max_revoke,
                       skip_invalid=args.skip_invalid, date_format=args.date_format, sheet=args.sheet,
                       out=getattr(args, "out", None), report=getattr(args, "report", None))


def _source(args: argparse.Namespace):
    """The roster argument: a path, or `-` for the file's bytes on standard input."""
    return sys.stdin.buffer if args.roster == "-" else args.roster


def _plan(args: argparse.Namespace):
    """(PlanResult, actor): the roster planned through batch's one entry point; the database opens
    while the file is parsed."""
    from batch import progress
    from batch.planning import plan_roster

    actors = []

    def open_database():
        actors.append(setup(args))
        return actors[0]

    with progress.bar(progress.wanted(getattr(args, "json", False)), "reading") as bar:
        result = plan_roster(open_database, _source(args), _options(args), progress=bar)
    return result, actors[0]


def _say_outputs(args: argparse.Namespace, result) -> None:
    if getattr(args, "json", False):
        return
    if result.out:
        print(f"Plan saved to {result.out}: `regtui batch apply {result.out}` applies exactly it.", file=sys.stderr)
    if result.report:
        print(f"Report with a status for every row: {result.report}", file=sys.stderr)


def _batch_print_plan(plan, file=None, *, summary: bool = False) -> None:
    from batch.diff import diff_text, summary_text

    (file or sys.stdout).write((summary_text if summary else diff_text)(plan))  # one write: 100,000 lines in one go


def _batch_json(plan, extra: dict | None = None) -> None:
    data = plan.report_json()
    if extra:
        data.update(extra)
    import orjson

    sys.stdout.write(orjson.dumps(data, default=json_default, option=orjson.OPT_INDENT_2).decode() + "\n")


def cmd_batch_plan(args: argparse.Namespace) -> int:
    _batch_gc(1_000_000)  # a plan holds little but the roster and its changes: one or two collections
    result, _ = _plan(args)
    if args.json:
        _batch_json(result.plan)
    else:
        _batch_print_plan(result.plan, summary=args.summary)
        sys.stdout.flush()
    _say_outputs(args, result)
    return 1 if result.plan.errors else 0


def cmd_batch_apply(args: argparse.Namespace) -> int:
    from batch import progress
    from batch.planning import apply_result, read_plan_file

    _batch_gc()
    if args.roster.lower().endswith(".json"):
        actor = setup(args)
        plan = read_plan_file(args.roster)
    else:
        result, actor = _plan(args)
        _say_outputs(args, result)
        plan = result.plan
        del result  # the roster as read is no longer needed: keep the apply's peak memory down
    if plan.blocking_errors:
        if args.json:
            _batch_json(plan, {"applied": False})
        else:
            _batch_print_plan(plan)
            print(f"regtui: the plan has {len(plan.blocking_errors)} error(s); nothing was applied.", file=sys.stderr)
        return 1
    if not args.yes:
        if args.json or not sys.stdin.isatty() or args.roster == "-":
            raise UsageError("Applying changes the database: add --yes (or run on a terminal to be asked).")
        _batch_print_plan(plan)
        answer = input("Apply this plan? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing was applied.")
            return 1
    with progress.bar(progress.wanted(args.json), "applying") as bar:
        batch = apply_result(actor, plan, progress=bar)
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
    from regtui.core.services import batches

    actor = setup(args)
    return emit_page(args, "batches", lambda **page: batches.page(actor, search=args.search or "", **page),
                     lambda b: b.as_dict(), lambda data: print_table(
                         [(d["id"], d["applied_at"], d["operator"], d["pool_name"] or d["pool"], d["file_name"],
                           d["sha256"][:12], " ".join(f"{k}={v}" for k, v in d["counts"].items() if v), d["outcome"])
                          for d in data],
                         ["batch", "time", "operator", "pool", "file", "sha256", "counts", "outcome"]))
