"""Layers point down only, and headless commands never load Textual (it keeps them quick)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _modules_loaded_by(*args: str) -> set[str]:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['regtui', *{list(args)!r}]\n"
        "try:\n    runpy.run_module('regtui', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return set(result.stderr.split())


def test_headless_commands_do_not_import_textual(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_text("email,first_name,last_name\nada@example.com,Ada,Lovelace\n", encoding="utf-8")
    for args in (["batch", "plan", str(roster), "--pool", "1"], ["pools", "--help"], ["--help"]):
        loaded = _modules_loaded_by(*args)
        assert "regtui.cli" in loaded
        assert not any(m == "textual" or m.startswith("textual.") for m in loaded), args
