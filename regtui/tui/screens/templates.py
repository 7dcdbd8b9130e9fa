"""Email templates: pick one, edit subject and body, see it rendered on sample data, save.

Saving is for admins (``templates.edit``); others can read and try edits in the preview.
The preview is ``templates.preview`` (a pure function), debounced while typing.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option
from regtui.tui.screens.confirm import ConfirmScreen
from regtui.tui.widgets import call_service, sanitize

PREVIEW_DELAY = 0.3


class TemplatesLoaded(Message):
    """The template names and the (subject, body) of each were read."""

    def __init__(self, templates: dict[str, tuple[str, str]]) -> None:
        super().__init__()
        self.templates = templates


class TemplateSaved(Message):
    def __init__(self, name: str, subject: str, body: str) -> None:
        super().__init__()
        self.name = name
        self.subject = subject
        self.body = body


class TemplatesFailed(Message):
    def __init__(self, sentence: str) -> None:
        super().__init__()
        self.sentence = sentence


class TemplatesScreen(Screen):
    CSS_PATH = "templates.tcss"
    TITLE = "Email templates"

    HELP = """\
Pick a template, edit its subject and body, and see it rendered on sample data. Placeholders such as $link are filled in when an email is sent: a template must hold its required ones and may use only those it knows. Leaving with unsaved edits asks first.
"""
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+r", "revert", "Revert"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.saved: dict[str, tuple[str, str]] = {}
        self.current: str | None = None
        self._preview_timer: Timer | None = None
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Static("Email templates", id="tpl-title")
        with Horizontal(id="tpl-main"):
            yield OptionList(id="tpl-list")
            with Vertical(id="tpl-right"):
                # the subject spans editor and preview, so it is read whole at 80 columns
                yield Label("Subject")
                yield Input(id="tpl-subject")
                with Horizontal(id="tpl-panes"):
                    with Vertical(id="tpl-editor"):
                        yield Label("Body")
                        yield TextArea(id="tpl-body", soft_wrap=True)
                        yield Static("", id="tpl-vars")
                        with Horizontal(id="tpl-actions"):
                            yield Button("Save (ctrl+s)", id="tpl-save", variant="primary")
                            yield Static("", id="tpl-state", markup=False)
                    with Vertical(id="tpl-preview-pane"):
                        yield Label("Preview on sample data")
                        with VerticalScroll(id="tpl-preview-box"):
                            yield Static("", id="tpl-preview", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if not self.app.actor.can("templates.edit"):
            self.query_one("#tpl-save", Button).disabled = True
        self.load_templates()

    # -- workers ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="templates-load")
    def load_templates(self) -> None:
        from regtui.core.services import templates

        def read() -> dict:
            found = {t.name: (t.subject, t.body) for t in templates.list_templates()}
            for name in templates.DEFAULTS:
                if name not in found:
                    row = templates.get(name)
                    found[name] = (row.subject, row.body)
            return dict(sorted(found.items()))

        call_service(self, read, TemplatesLoaded, TemplatesFailed)

    @work(thread=True, exclusive=True, group="templates-save")
    def save_template(self, name: str, subject: str, body: str) -> None:
        from regtui.core.services import templates

        call_service(self, lambda: templates.save(self.app.actor, name, subject, body),
                     lambda row: TemplateSaved(row.name, row.subject, row.body), TemplatesFailed)

    # -- handlers --------------------------------------------------------------------------

    def on_templates_loaded(self, message: TemplatesLoaded) -> None:
        self.saved = message.templates
        names = self.query_one(OptionList)
        names.clear_options()
        names.add_options([Option(Text(name), id=name) for name in self.saved])
        if self.saved:
            first = self.current if self.current in self.saved else next(iter(self.saved))
            names.highlighted = names.get_option_index(first)
            self._open(first)
            names.focus()

    def on_template_saved(self, message: TemplateSaved) -> None:
        self.saved[message.name] = (message.subject, message.body)
        self.notify(f"Saved {message.name}.", markup=False)
        self._update_state()

    def on_templates_failed(self, message: TemplatesFailed) -> None:
        self.notify(message.sentence, severity="error", markup=False)
        self.query_one("#tpl-state", Static).update(Text(sanitize(message.sentence), style="bold red"))

    @on(OptionList.OptionHighlighted, "#tpl-list")
    def _picked(self, event: OptionList.OptionHighlighted) -> None:
        if not event.option_id or event.option_id == self.current:
            return
        wanted = event.option_id
        if not self._dirty():
            self._open(wanted)
            return
        names = self.query_one(OptionList)
        names.highlighted = names.get_option_index(self.current)  # stays until the answer

        def answered(discard: bool | None) -> None:
            if discard:
                self._open(wanted)
                names.highlighted = names.get_option_index(wanted)
        self._ask_discard(answered)

    @on(Input.Changed, "#tpl-subject")
    @on(TextArea.Changed, "#tpl-body")
    def _edited(self) -> None:
        self._schedule_preview()
        self._update_state()

    @on(Button.Pressed, "#tpl-save")
    def _save_pressed(self) -> None:
        self.action_save()

    # -- state -----------------------------------------------------------------------------

    def _open(self, name: str) -> None:
        self.current = name
        subject, body = self.saved[name]
        self.query_one("#tpl-subject", Input).value = subject
        self.query_one("#tpl-body", TextArea).text = body
        self.query_one("#tpl-title", Static).update(Text(f"Email templates: {name}"))
        self.query_one("#tpl-vars", Static).update(placeholders_line(name))
        self.refresh_preview()
        self._update_state()

    def _editing(self) -> tuple[str, str]:
        return self.query_one("#tpl-subject", Input).value, self.query_one("#tpl-body", TextArea).text

    def _dirty(self) -> bool:
        return self.current is not None and self._editing() != self.saved.get(self.current)

    def _update_state(self) -> None:
        state = self.query_one("#tpl-state", Static)
        if not self.app.actor.can("templates.edit"):
            state.update(Text("Read-only: saving templates needs the admin role.", style="dim"))
        elif self._dirty():
            state.update(Text("modified, not saved", style="yellow"))
        else:
            state.update(Text("saved", style="green"))

    def _schedule_preview(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY, self.refresh_preview)

    def refresh_preview(self) -> None:
        from regtui.core.errors import RegtuiError
        from regtui.core.services import templates

        subject, body = self._editing()
        shown = Text()
        try:
            templates.check(subject, body, self.current)
        except RegtuiError as exc:
            shown.append(sanitize(exc) + "\n\n", style="bold red")
        try:
            r_subject, r_body = templates.preview(subject, body)
        except ValueError as exc:
            shown.append(sanitize(f"Cannot render: {exc}"), style="bold red")
        else:
            shown.append("Subject: ", style="bold")
            shown.append(sanitize(r_subject.replace("\n", " ")) + "\n\n")
            shown.append(sanitize(r_body, keep_newlines=True))
        self.query_one("#tpl-preview", Static).update(shown)

    # -- actions ---------------------------------------------------------------------------

    def action_save(self) -> None:
        actor = self.app.actor
        if not actor.can("templates.edit"):
            self.notify(f"Editing email templates needs the admin role; {actor.name} is {actor.role}.", severity="error", markup=False)
            return
        if self.current is None:
            return
        subject, body = self._editing()
        self.save_template(self.current, subject, body)

    def action_revert(self) -> None:
        if self.current is not None:
            self._open(self.current)

    def action_close(self) -> None:
        self.leave(self.app.pop_screen)

    def leave(self, then) -> None:
        """Leave the screen by calling ``then``: at once, or after asking when there are unsaved edits."""
        if not self._dirty():
            then()
            return
        self._ask_discard(lambda discard: then() if discard else None)

    def _ask_discard(self, answered) -> None:
        self.app.push_screen(ConfirmScreen(f"{self.current} has unsaved edits. Discard them?", yes="Discard"), answered)

    def help_text(self) -> str:
        """HELP, and the placeholders of the template being edited with what each stands for."""
        if self.current is None:
            return self.HELP
        return self.HELP + f"\nPlaceholders of {self.current}\n" + "\n".join(
            f"  ${p.name:<13} {'(required) ' if p.required else ''}{p.meaning}" for p in known_placeholders(self.current))


def known_placeholders(name: str):
    from regtui.core.services import templates

    return templates.placeholders(name)


def placeholders_line(name: str) -> Text:
    """The placeholders template ``name`` knows, required ones in bold (the same declaration the save check uses)."""
    line = Text("Placeholders: ", style="dim")
    for n, p in enumerate(known_placeholders(name)):
        line.append(", " if n else "")
        line.append(f"${p.name}" + (" (required)" if p.required else ""), style="bold" if p.required else "")
    return line
