"""What the commands share: opening the database as the operator, JSON and table output, dates."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any, Callable, Sequence

from regtui import config
from regtui.core.errors import UsageError

Handler = Callable[[argparse.Namespace], int]


def emit(args: argparse.Namespace, data: Any, human: Callable[[], None]) -> int:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=json_default))
    else:
        human()
    return 0


def json_default(value: Any) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    cells = [[str(h) for h in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    if not rows:
        print("(none)")


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2027-03-01") from None


def setup(args: argparse.Namespace, *, need_schema: bool = True):
    """Open the database and find the operator."""
    from regtui.core import db
    from regtui.core.services import operators

    db.open_database(config.database_url(args.db))
    if need_schema:
        db.require_schema()
    return operators.current(args.as_name)

def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text.") from None
