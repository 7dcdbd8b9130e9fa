"""Small widgets and helpers shared by the TUI's screens."""

from __future__ import annotations

import logging
from typing import Any, Callable

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable, Switch
from textual.message_pump import MessagePump

from regtui.core.errors import RegtuiError
from regtui.tui.messages import ActionFailed

log = logging.getLogger("regtui.tui")


class Table(DataTable):
    """A DataTable that repaints with the right column widths once it has measured new rows.

    DataTable measures its columns when it goes idle, but rows it rendered before that stay in
    its render caches, whose keys do not include the widths, so a list could stay squeezed to its
    header widths until the next change (Textual issue #4470). Dropping those caches after the
    measurement fixes it."""

    async def _on_idle(self, event: events.Idle) -> None:
        measuring = self._require_update_dimensions or bool(self._updated_cells)
        await super()._on_idle(event)
        if measuring:
            self._clear_caches()
            self.refresh(layout=True)


class StateSwitch(Switch):
    """A Switch that says its state in words, "on" or "off", readable in 16 colours and with no
    colour at all (a slider's position alone is not)."""

    def render(self) -> Text:
        return Text(" on" if self.value else "off", style="bold reverse" if self.value else "dim")


def cell(value: Any) -> Text:
    """A DataTable cell that shows ``value`` literally (no markup, no escape codes)."""
    if value is None:
        return Text("")
    return Text(sanitize(str(value)))


def sanitize(value: Any, keep_newlines: bool = False) -> str:
    """User data as plain text: control characters (terminal escape codes included) shown as
    visible \\xNN, never sent to the terminal."""
    text = "" if value is None else str(value)
    keep = "\n\t" if keep_newlines else ""
    return "".join(ch if ch.isprintable() or ch == " " or ch in keep else f"\\x{ord(ch):02x}" for ch in text)


def screen_title(screen) -> str:
    """What a screen is called in the help and the command palette."""
    return screen.TITLE or type(screen).__name__.removesuffix("Screen")


def sentence(exc: Exception) -> str:
    """What the user reads about a failure: the service's sentence, or a short description."""
    if isinstance(exc, RegtuiError):
        return str(exc)
    return f"Unexpected {type(exc).__name__}: {exc}. Nothing more was done."


def close_thread_db() -> None:
    """A worker thread's own database connection is closed when the worker ends."""
    from regtui.core import db

    try:
        db.close()
    except Exception:
        pass


def call_service(target: MessagePump, fn: Callable[[], Any], done: Callable[[Any], Message],
                 failed: Callable[[str], Message] = ActionFailed) -> None:
    """Run ``fn`` (in a worker thread) and post ``done(result)`` to ``target``, or
    ``failed(sentence)`` (by default ActionFailed, which the app shows as one notification).

    Every screen's worker goes through here, so a failure always reads the same: the service's
    sentence, or for an unexpected error a short one (the details go to the log). The worker
    thread's own database connection is closed afterwards."""
    try:
        result = fn()
    except RegtuiError as exc:
        target.post_message(failed(sentence(exc)))
    except Exception as exc:  # the user sees a sentence, the log keeps the details
        log.exception("TUI worker failed")
        target.post_message(failed(sentence(exc)))
    else:
        target.post_message(done(result))
    finally:
        close_thread_db()
