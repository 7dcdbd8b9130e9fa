"""Issue 9 item 13: the roster's hot-path modules and the CLI's parser are made of small functions
with names that say what they do (a long one hides its steps and grows parameters). Measured on
the source with ``ast``: a function's lines, and its positional parameters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

MAX_LINES = 60
MAX_POSITIONAL = 8
MODULES = ["batch/validate.py", "batch/planner.py", "batch/xlsx.py", "regtui/cli/parser.py"]


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


@pytest.mark.parametrize("module", MODULES)
def test_functions_are_short(module):
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in _functions(ROOT / module)
            if f.end_lineno - f.lineno + 1 > MAX_LINES]
    assert not long, f"{module}: longer than {MAX_LINES} lines: {', '.join(long)}"


@pytest.mark.parametrize("module", MODULES)
def test_functions_take_few_positional_parameters(module):
    many = [f"{f.name} ({len(f.args.args)})" for f in _functions(ROOT / module) if len(f.args.args) > MAX_POSITIONAL]
    assert not many, f"{module}: more than {MAX_POSITIONAL} positional parameters: {', '.join(many)}"
