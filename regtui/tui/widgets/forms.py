"""A small modal form: labelled inputs, dismissed with {name: value} or None (cancelled).

A form given ``submit_to`` stays open while its values are acted on: ``submit_to(form, values)``
starts the work, which ends by posting ``FormScreen.Accepted(result)`` to the form (it closes
with ``result``) or ``ActionFailed(sentence)`` (the sentence is shown in the form, the fields kept)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from regtui.tui.messages import ActionFailed
from regtui.tui.widgets import call_service


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    password: bool = False


def parse_date(text: str, what: str) -> dt.date | None:
    """An ISO date, or None for an empty text; ValueError with a sentence otherwise."""
    text = text.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a date like 2027-03-01.") from None


def parse_whole(text: str, what: str, default: int | None = None) -> int | None:
    """A whole number, or ``default`` for an empty text; ValueError with a sentence otherwise."""
    text = text.strip().replace(",", "")
    if not text:
        return default
    if not text.isdigit():
        raise ValueError(f"{what} {text!r} is not a whole number.")
    return int(text)


class FormScreen(ModalScreen[dict | None]):
    CSS_PATH = "forms.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    class Accepted(Message):
        """The work on the form's values is done: the form closes with ``result``."""

        def __init__(self, result: Any) -> None:
            super().__init__()
            self.result = result

    def __init__(self, title: str, fields: list[Field], submit: str = "OK", note: str = "", form_id: str | None = None,
                 submit_to: Callable[[FormScreen, dict], None] | None = None) -> None:
        super().__init__(id=form_id)
        self.form_title = title
        self.fields = fields
        self.submit = submit
        self.note = note
        self.submit_to = submit_to

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static(self.form_title, id="form-title", markup=False)
            if self.note:
                yield Static(self.note, id="form-note", markup=False)
            for f in self.fields:
                yield Label(f.label, markup=False)
                # one line each (no border), so a form of five fields fits 24 rows
                yield Input(value=f.value, placeholder=f.placeholder, password=f.password, id=f"field-{f.name}", compact=True)
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button(self.submit, id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def values(self) -> dict:
        return {f.name: self.query_one(f"#field-{f.name}", Input).value for f in self.fields}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        if self.submit_to is None:
            self.dismiss(self.values())
            return
        self.show_error("")
        self.query_one("#submit", Button).disabled = True  # until the work answers
        self.submit_to(self, self.values())

    def run_service(self, fn: Callable[[], Any], result: Callable[[Any], Any] = lambda r: r) -> None:
        """Run the service call ``fn`` in a worker thread: the form closes with ``result(what fn
        returned)`` (worked out in the thread), or shows the service's sentence and stays open."""
        self.run_worker(lambda: call_service(self, fn, lambda r: FormScreen.Accepted(result(r))), thread=True, group="form")

    def show_error(self, sentence: str) -> None:
        """Say why the values were refused; the fields stay as typed."""
        self.query_one("#form-error", Static).update(sentence)
        self.query_one("#form-error").display = bool(sentence)
        self.query_one("#submit", Button).disabled = False

    def on_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        self.show_error(message.sentence)

    def on_form_screen_accepted(self, message: Accepted) -> None:
        message.stop()
        self.dismiss(message.result)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """Shows a text (a link, say) to read or copy; `c` copies it to the clipboard (OSC 52)."""

    CSS_PATH = "forms.tcss"
    BINDINGS = [Binding("escape,enter", "close", "Close"), Binding("c", "copy", "Copy")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.form_title, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(self.form_title, id="form-title", markup=False)
            yield Static(self.text, id="text", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Copy", id="copy", variant="primary")
                yield Button("Close", id="close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy":
            self.action_copy()
        else:
            self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.text)
        self.notify("Copied to the clipboard.")

    def action_close(self) -> None:
        self.dismiss(None)
