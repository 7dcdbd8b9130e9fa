"""Exporting from the TUI: a pool's codes with their holders, or a customer's users, to an .xlsx
or .csv file, through ``services.exports`` (the CLI's `regtui export`). Asks for the path;
an existing file is replaced only when confirmed; a failure is the service's one sentence,
shown in the form, which keeps the path typed."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from textual.app import App

from regtui.core.words import plural
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.widgets import sentence
from regtui.tui.widgets.forms import Field, FormScreen


def ask_export(app: App, title: str, suggested: str, table: Callable[[], object], noun: str,
               done: Callable[[str | None], None]) -> None:
    """Ask where to write ``table()`` (read in a worker), then write it there; ``done(sentence)``."""
    from regtui.core.errors import RegtuiError
    from regtui.core.services import exports

    def write(form: FormScreen, target: Path) -> None:
        form.run_service(lambda: exports.write(target, table()), lambda n: f"Wrote {plural(n, noun)} to {target}.")

    def submit(form: FormScreen, values: dict) -> None:
        try:
            target = exports.target_file(values["path"])
        except RegtuiError as exc:
            form.show_error(sentence(exc))
            return
        if not target.exists():
            write(form, target)
            return

        def answered(replace: bool | None) -> None:
            if replace:
                write(form, target)
            else:
                form.show_error(f"{target} was left as it is: give another name, or confirm to replace it.")
        app.push_screen(ConfirmScreen(f"{target} already exists. Replace it?", yes="Replace"), answered)

    fields = [Field("path", "File to write (.xlsx or .csv)", value=suggested)]
    app.push_screen(FormScreen(title, fields, "Export", form_id="export", submit_to=submit), done)
