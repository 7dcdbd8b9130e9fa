"""Batch: choose a roster, plan it against a pool (a dry run), review the diff, apply exactly that plan.

Workers (threads) read + plan and apply through the batch engine; they post past-tense messages
(PoolsLoaded, PlanReady, BatchProgress, BatchApplied, BatchFailed). The handlers here own the state:
the plan on screen is the plan that gets applied.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.suggester import Suggester
from textual.widgets import Button, DataTable, Footer, Input, Label, ProgressBar, Select, Static, Switch
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.widgets import StateSwitch, Table, call_service, sanitize, sentence

ACTIONS = [("from the file", ""), ("create", "create"), ("invite", "invite"), ("revoke", "revoke"), ("extend", "extend")]
DATE_ORDERS = [("as written", ""), ("day/month", "dmy"), ("month/day", "mdy")]
FROM_FILE = [("from the file's pool column", "")]
BIG_PLAN = 1000  # lines: above this the table lists only the problems unless "Every row" is on

# 16-colour-safe named colours, one per kind of row in the diff.
KIND_STYLE = {
    "create": "green",
    "assign": "green",
    "invite": "cyan",
    "revoke": "red",
    "extend": "yellow",
    "unchanged": "dim",
    "error": "bold red",
    "warning": "yellow",
}
ROSTER_SUFFIXES = (".xlsx", ".csv", ".txt")
# The controls that set each planning option, named in error sentences (the CLI names its flags).
CONTROLS = {"pool": "a pool in the Pool list", "action": "the Action list", "sync": "the Sync switch",
            "max_revoke": "the Max revoke field", "skip_invalid": "the Skip invalid switch",
            "date_format": "the Date order list", "out": "the plan file", "report": "the report path"}


class PathSuggester(Suggester):
    """Completes the file or folder name being typed from what is on disk (folders get a '/')."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, partial = os.path.split(expanded)
        try:
            entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
        except OSError:
            return None
        matches = []
        for entry in entries:
            if not entry.name.startswith(partial) or entry.name == partial:
                continue
            if entry.name.startswith(".") and not partial.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir or entry.name.lower().endswith(ROSTER_SUFFIXES):
                matches.append(entry.name + ("/" if is_dir else ""))
        if not matches:
            return None
        return value + matches[0][len(partial):]


# -- messages ----------------------------------------------------------------------------------


class PoolsLoaded(Message):
    """The pools this operator may use: (label, id) pairs."""

    def __init__(self, options: list[tuple[Text, int]]) -> None:
        super().__init__()
        self.options = options


class PlanReady(Message):
    """A roster was read and planned: ``plan`` (batch.plan.Plan) and the roster it came from."""

    def __init__(self, path: Path, roster, plan) -> None:
        super().__init__()
        self.path = path
        self.roster = roster
        self.plan = plan


class BatchProgress(Message):
    """The applier reached ``stage`` with ``done`` of ``total`` changes."""

    def __init__(self, stage: str, done: int, total: int) -> None:
        super().__init__()
        self.stage = stage
        self.done = done
        self.total = total


class BatchApplied(Message):
    """The plan was applied as batch ``batch``; ``report`` is the report file, or why there is none."""

    def __init__(self, batch, report: Path | None, report_problem: str | None) -> None:
        super().__init__()
        self.batch = batch
        self.report = report
        self.report_problem = report_problem


class BatchFailed(Message):
    """Reading, planning or applying was refused; ``sentence`` says why. Nothing was changed."""

    def __init__(self, sentence: str, stage: str) -> None:
        super().__init__()
        self.sentence = sentence
        self.stage = stage


# -- the screen --------------------------------------------------------------------------------


class BatchScreen(Screen):
    CSS_PATH = "batch.tcss"
    TITLE = "Batch"

    HELP = """\
Plan a roster (xlsx or CSV) against a pool, review what it would change, then apply exactly that plan.
Planning is a dry run: nothing is written. A plan that is out of date is refused.
F7 lists the batches applied so far (batch history): when, which file, by whom, to which pool, what each changed.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("f5", "plan", "Plan"),
        Binding("f6", "apply", "Apply"),
        Binding("f7", "history", "History"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plan = None
        self.roster = None
        self.roster_path: Path | None = None
        self.working = False
        self.summary_only = False

    def compose(self) -> ComposeResult:
        yield Static("Batch: plan a roster, review, apply", id="batch-title")
        with Vertical(id="batch-options"):
            with Horizontal(classes="batch-row"):
                yield Label("Roster", classes="batch-label")
                yield Input(placeholder="path to .xlsx / .csv (→ completes)", id="batch-path", suggester=PathSuggester())
            with Horizontal(classes="batch-row"):
                yield Label("Pool", classes="batch-label")
                yield Select(FROM_FILE, value="", allow_blank=False, type_to_search=True, id="batch-pool")
            with Horizontal(classes="batch-row"):
                yield Label("Action", classes="batch-label")
                yield Select(ACTIONS, value="", allow_blank=False, id="batch-action")
                yield Label("Dates", classes="batch-label-short")
                yield Select(DATE_ORDERS, value="", allow_blank=False, id="batch-dates")
                yield Label("Sync", classes="batch-label-short")
                yield StateSwitch(value=False, id="batch-sync")
                yield Label("Max revoke", classes="batch-label-short")
                yield Input(placeholder="10%", id="batch-max-revoke")
            with Horizontal(classes="batch-row"):
                yield Label("Report", classes="batch-label")
                yield Input(placeholder="next to the roster: NAME.report.xlsx", id="batch-report")
                yield Label("Skip invalid", classes="batch-label-short")
                yield StateSwitch(value=False, id="batch-skip")
                yield Label("Every row", classes="batch-label-short")
                yield StateSwitch(value=False, id="batch-every-row")
            with Horizontal(classes="batch-row"):
                yield Button("Plan (F5)", id="batch-plan", variant="primary")
                yield Button("Apply (F6)", id="batch-apply", variant="error", disabled=True)
        yield Static("Choose a roster file and a pool, then Plan.", id="batch-summary", markup=False)
        yield ProgressBar(id="batch-progress", show_eta=False)
        yield Table(id="batch-diff", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="batch-errors-box"):
            yield Static("", id="batch-errors", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#batch-diff", DataTable).add_columns("row", "kind", "email", "name", "detail")
        self.query_one("#batch-progress", ProgressBar).display = False
        self.load_pools()
        self.query_one("#batch-path", Input).focus()

    # -- workers ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="batch-pools")
    def load_pools(self) -> None:
        from batch.planning import pool_choices

        call_service(self, lambda: [(Text(sanitize(label)), ref) for label, ref in pool_choices(self.app.actor)],
                     PoolsLoaded, lambda why: BatchFailed(why, "pools"))

    @work(thread=True, exclusive=True, group="batch-run")
    def make_plan(self, path: Path, options) -> None:
        from batch.planning import plan_roster

        call_service(self, lambda: plan_roster(self.app.actor, path, options),
                     lambda result: PlanReady(path, result.roster, result.plan), lambda why: BatchFailed(why, "plan"))

    @work(thread=True, exclusive=True, group="batch-run")
    def apply_plan(self, plan, roster, path: Path, report_to: Path) -> None:
        from batch.planning import apply_result

        def progress(stage: str, done: int, total: int) -> None:
            self.post_message(BatchProgress(stage, done, total))

        call_service(self, lambda: apply_result(self.app.actor, plan, progress=progress),
                     lambda batch: self._report_of(batch, roster, plan, report_to),
                     lambda why: BatchFailed(why, "apply"))

    @staticmethod
    def _report_of(batch, roster, plan, report_to: Path) -> "BatchApplied":
        """The batch applied: its report written (a report that cannot be written is said, the
        batch stays applied)."""
        from batch.report import write_report

        try:
            return BatchApplied(batch, write_report(report_to, roster, plan), None)
        except Exception as exc:
            return BatchApplied(batch, None, sentence(exc))

    # -- handlers --------------------------------------------------------------------------

    def on_pools_loaded(self, message: PoolsLoaded) -> None:
        select = self.query_one("#batch-pool", Select)
        chosen = select.value
        select.set_options(FROM_FILE + message.options)
        refs = {ref for _, ref in message.options}
        select.value = chosen if chosen in refs else ""

    def on_plan_ready(self, message: PlanReady) -> None:
        self.working = False
        self.plan, self.roster, self.roster_path = message.plan, message.roster, message.path
        plan = message.plan
        self._fill_table()
        self._show_summary()
        errors = Text()
        for problems, style in ((plan.errors, "bold red"), (plan.warnings, "yellow")):
            for e in problems:
                if not e.message.startswith(f"Row {e.row}"):
                    errors.append(f"Row {e.row}: ", style=style)
                errors.append(sanitize(e.message) + "\n", style="red" if style == "bold red" else "")
        self.query_one("#batch-errors", Static).update(errors)
        self._update_buttons()

    def on_batch_progress(self, message: BatchProgress) -> None:
        bar = self.query_one("#batch-progress", ProgressBar)
        bar.display = True
        bar.update(total=max(message.total, 1), progress=message.done)

    def on_batch_applied(self, message: BatchApplied) -> None:
        self.working = False
        b = message.batch
        bar = self.query_one("#batch-progress", ProgressBar)
        bar.update(total=1, progress=1)
        text = Text(f"Applied as batch {b.id} ({b.outcome}). ", style="bold green")
        counts = ", ".join(f"{n} {k}" for k, n in self.plan.summary().items() if n)
        text.append(counts + ".")
        if message.report is not None:
            text.append("\nReport: ")
            text.append(sanitize(message.report))
        elif message.report_problem:
            text.append(sanitize(f"\nNo report written: {message.report_problem}"), style="yellow")
        self.query_one("#batch-summary", Static).update(text)
        self.notify(f"Batch {b.id} applied.", markup=False)
        self.plan = None  # applied: plan again to apply more
        self._update_buttons()
        self.load_pools()

    def on_batch_failed(self, message: BatchFailed) -> None:
        self.working = False
        self.query_one("#batch-progress", ProgressBar).display = False
        self.notify(message.sentence, severity="error", markup=False)
        summary = self.query_one("#batch-summary", Static)
        if message.stage == "apply":
            summary.update(Text(sanitize(f"Nothing was applied: {message.sentence}"), style="bold red"))
        elif message.stage == "plan":  # the previous file's plan is gone: no old rows under a new failure
            self.plan = self.roster = None
            self.query_one("#batch-diff", DataTable).clear()
            self.query_one("#batch-errors", Static).update("")
            summary.update(Text(sanitize(f"No plan: {message.sentence}"), style="bold red"))
        self._update_buttons()

    @on(Button.Pressed, "#batch-plan")
    def _plan_pressed(self) -> None:
        self.action_plan()

    @on(Button.Pressed, "#batch-apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Input.Submitted, "#batch-path")
    def _path_submitted(self) -> None:
        self.action_plan()

    @on(Switch.Changed, "#batch-every-row")
    def _every_row_changed(self) -> None:
        if self.plan is not None:
            self._fill_table()

    @on(Input.Changed, "#batch-path")
    @on(Input.Changed, "#batch-max-revoke")
    @on(Select.Changed)
    @on(Switch.Changed, "#batch-sync")
    @on(Switch.Changed, "#batch-skip")
    def _options_changed(self) -> None:
        # the plan on screen no longer matches the options: it must be made again before Apply
        if self.plan is not None:
            self.plan = None
            self.query_one("#batch-summary", Static).update(Text("Options changed: Plan again before applying.", style="yellow"))
            self._update_buttons()

    # -- actions ---------------------------------------------------------------------------

    def action_plan(self) -> None:
        if self.working:
            return
        raw_path = self.query_one("#batch-path", Input).value.strip()
        if not raw_path:
            self.notify("Give the roster file's path first.", severity="error", markup=False)
            return
        path = Path(os.path.expanduser(raw_path))  # the reader says what is wrong with it, if anything
        self.working = True
        self.plan = None
        self._update_buttons()
        self.query_one("#batch-summary", Static).update(Text("Reading and planning…", style="dim"))
        self.make_plan(path, self._options())

    def _options(self):
        from batch.planning import PlanOptions

        def value(selector: str, kind=Select):
            v = self.query_one(selector, kind).value
            return None if v in ("", Select.NULL) else (v.strip() or None if isinstance(v, str) else v)

        pool = value("#batch-pool")
        return PlanOptions(pool=None if pool is None else str(pool), action=value("#batch-action"), date_format=value("#batch-dates"),
                           sync=self.query_one("#batch-sync", Switch).value, max_revoke=value("#batch-max-revoke", Input),
                           skip_invalid=self.query_one("#batch-skip", Switch).value, controls=CONTROLS)

    def action_apply(self) -> None:
        plan = self.plan
        if plan is None or self.working:
            self.notify("Make a plan first (F5); Apply runs exactly the plan shown.", severity="warning", markup=False)
            return
        if plan.blocking_errors:
            self.notify("The plan has errors; fix the roster (or turn on Skip invalid rows) and plan again.", severity="error", markup=False)
            return
        if not plan.changes:
            self.notify("Nothing to apply: every row is already so.", markup=False)
            return
        question = Text("Apply ")
        question.append(sanitize(self.roster_path.name if self.roster_path else "the roster"), style="bold")
        question.append(f" to pool {plan.pool_id}?\n")
        question.append(", ".join(f"{n} {k}" for k, n in plan.summary().items() if n and k not in ("unchanged", "error")))
        question.append(f"\nAvailable seats: {plan.available_before} → {plan.available_after} of {plan.seats}.")
        if plan.skip_invalid and plan.errors:
            question.append(f"\n{len(plan.errors)} invalid row(s) will be skipped.", style="yellow")
        self.app.push_screen(ConfirmScreen(question, yes="Apply (y)", no="Cancel (n)"), self._confirmed)

    def _confirmed(self, yes: bool | None) -> None:
        if not yes or self.plan is None:
            return
        self.working = True
        self._update_buttons()
        bar = self.query_one("#batch-progress", ProgressBar)
        bar.update(total=max(len(self.plan.changes), 1), progress=0)
        bar.display = True
        self.query_one("#batch-summary", Static).update(Text("Applying…", style="dim"))
        chosen = self.query_one("#batch-report", Input).value.strip()
        report = Path(os.path.expanduser(chosen)) if chosen else report_path(self.roster_path)
        self.apply_plan(self.plan, self.roster, self.roster_path, report)

    def action_history(self) -> None:
        from regtui.tui.screens.batch_history import BatchHistoryScreen

        self.app.push_screen(BatchHistoryScreen())

    def action_close(self) -> None:
        if self.working:
            self.notify("Wait for the batch to finish.", severity="warning", markup=False)
            return
        self.app.pop_screen()

    # -- helpers ---------------------------------------------------------------------------

    def _fill_table(self) -> None:
        """The plan's lines in row order: changes, then problems with their bad value in its own column
        (an address under email, a name under name, anything else in the detail). A big plan lists
        only its problems unless "Every row" is on."""
        plan = self.plan
        table = self.query_one("#batch-diff", DataTable)
        table.clear()
        every = self.query_one("#batch-every-row", Switch).value
        items = plan.changes + plan.unchanged
        self.summary_only = len(items) > BIG_PLAN and not every
        lines = [] if self.summary_only else [
            (c.row, c.kind, c.email, f"{c.first_name} {c.last_name}".strip(), _describe(c)) for c in items]
        for kind, problems in (("error", plan.errors), ("warning", plan.warnings)):
            lines.extend((e.row, kind, *_problem_cells(e)) for e in problems)
        lines.sort(key=lambda x: (x[0] is None, x[0] or 0))
        for n, (row, kind, email, name, detail) in enumerate(lines):
            style = KIND_STYLE.get(kind, "")
            table.add_row(
                Text(_where(row)), Text(kind, style=style),
                Text(sanitize(email), style=style if kind == "unchanged" else ""),
                Text(sanitize(name)), Text(sanitize(detail), style="dim" if kind == "unchanged" else ""), key=str(n),
            )

    def _show_summary(self) -> None:
        plan = self.plan
        text = Text()
        text.append(sanitize(self.roster_path.name), style="bold")
        text.append(f" → pool {plan.pool_id}" + (" (sync)" if plan.options.get("sync") else "") + ":  ")
        for kind, n in plan.summary().items():
            if n:
                text.append(f"{n} {kind}", style=KIND_STYLE.get(kind, ""))
                text.append("  ")
        text.append(f"\nSeats: {plan.seats}; available {plan.available_before} → {plan.available_after}.")
        if self.summary_only:
            text.append(f"  {len(plan.changes) + len(plan.unchanged):,} rows: the table lists only the problems; "
                        "turn on Every row to list them all.", style="dim")
        if plan.blocking_errors:
            text.append("  Errors stop the apply: fix the roster and plan again.", style="bold red")
        elif plan.changes:
            text.append("  Review, then Apply (F6).", style="green")
        else:
            text.append("  Nothing to change.", style="dim")
        self.query_one("#batch-summary", Static).update(text)

    def _update_buttons(self) -> None:
        ok = self.plan is not None and not self.working and not self.plan.blocking_errors and bool(self.plan.changes)
        self.query_one("#batch-apply", Button).disabled = not (ok and self.app.actor.can("batch.apply"))
        self.query_one("#batch-plan", Button).disabled = self.working


def report_path(roster: Path) -> Path:
    """NAME.report.xlsx next to the roster."""
    return roster.with_name(f"{roster.stem}.report.xlsx")


def _describe(change) -> str:
    from batch.plan import describe

    return describe(change)


def _where(row: int | None) -> str:
    """A line's place: its spreadsheet row, "header" for row 1's problems, "plan" for the whole plan's."""
    if row is None:
        return "(sync)"
    return {0: "plan", 1: "header"}.get(row, str(row))


def _problem_cells(e) -> tuple[str, str, str]:
    """(email, name, detail) cells of an error or warning: its value under the column it is about."""
    value = "" if e.value is None else str(e.value)
    if e.column == "email":
        return value, "", e.message
    if e.column in ("first_name", "last_name"):
        return "", value, e.message
    return "", "", e.message
