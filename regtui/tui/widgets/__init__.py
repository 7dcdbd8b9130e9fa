"""Small widgets and helpers shared by the TUI's screens."""

from __future__ import annotations

import logging
from typing import Any, Callable

from rich.text import Text
from textual.message import Message
from textual.message_pump import MessagePump

from regtui.core.errors import RegtuiError
from regtui.tui.messages import ActionFailed

log = logging.getLogger("regtui.tui")


def cell(value: Any) -> Text:
    """A DataTable cell that shows ``value`` literally (no markup, no escape codes)."""
    if value is None:
        return Text("")
    return Text(sanitize(str(value)))


def sanitize(text: str) -> str:
    """Control characters (escape codes included) shown as visible symbols, never sent to the terminal."""
    return "".join(ch if ch.isprintable() or ch == " " else f"\\x{ord(ch):02x}" for ch in text)


def call_service(target: MessagePump, fn: Callable[[], Any], done: Callable[[Any], Message]) -> None:
    """Run ``fn`` (in a worker thread) and post ``done(result)`` to ``target``, or ActionFailed.

    The worker thread's own database connection is closed afterwards."""
    from regtui.core.models import database

    try:
        result = fn()
    except RegtuiError as exc:
        target.post_message(ActionFailed(str(exc)))
    except Exception as exc:  # the user sees a sentence, the log keeps the details
        log.exception("TUI worker failed")
        target.post_message(ActionFailed(f"Unexpected {type(exc).__name__}: {exc}. Nothing more was done."))
    else:
        target.post_message(done(result))
    finally:
        try:
            database.close()
        except Exception:
            pass
