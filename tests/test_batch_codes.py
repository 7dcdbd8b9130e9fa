"""One catalogue of every roster and plan code (docs/roster-codes.md): each code the readers, the
validator, the planner and the applier can produce is in it, with its sentence (issue 9 item 16)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "docs" / "roster-codes.md"
CODE = re.compile(r"[a-z]+(?:-[a-z]+)*")
# the calls that carry a code: where the code is (position, or keyword "code")
MAKERS = {"RowError": 0, "PlanError": 0, "_err": 0, "CellIssue": 2, "RosterError": 1, "DateResult": 1, "Refused": None}
MODULES = ["readers", "rawtypes", "zipguard", "xlsx", "text", "validate", "schema", "dates", "plan", "planner", "diff", "roster", "planning", "apply", "errors"]


def produced_codes() -> set[str]:
    """Every code literal passed to a code-carrying call in the batch modules."""
    codes: set[str] = set()
    for name in MODULES:
        tree = ast.parse((ROOT / "batch" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if func not in MAKERS:
                continue
            at = MAKERS[func]
            args = [node.args[at]] if at is not None and len(node.args) > at else []
            args += [k.value for k in node.keywords if k.arg == "code"]
            for arg in args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and CODE.fullmatch(arg.value):
                    codes.add(arg.value)
    codes.add("unreadable-file")  # RosterError's default code
    return codes


def catalogue() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+?) \|$", CATALOGUE.read_text(), re.MULTILINE)
    return dict(rows)


def test_every_code_is_in_the_catalogue_with_a_sentence():
    produced, listed = produced_codes(), catalogue()
    assert len(produced) > 35  # the scan finds the codes (it found 43 when written)
    assert sorted(produced - set(listed)) == []
    assert all(text.rstrip().endswith((".", ")")) and len(text) > 15 for text in listed.values())


def test_the_catalogue_lists_the_errors_module_codes():
    from batch.errors import ERROR_CODES, WARNING_CODES
    from batch.plan import WHOLE_PLAN_CODES

    assert set(ERROR_CODES) | set(WARNING_CODES) | WHOLE_PLAN_CODES <= set(catalogue())


def test_a_real_messy_roster_only_uses_listed_codes():
    from batch import read_roster

    roster = read_roster(ROOT / "fixtures" / "rosters" / "messy.csv")
    assert {e.code for e in roster.errors + roster.warnings} <= set(catalogue())
