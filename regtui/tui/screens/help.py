"""`?`: help for the screen it was opened on.

One mechanism for every screen: a screen declares what it is for in ``HELP`` (or, when that
depends on what it shows, in a ``help_text()`` method); the keys are read from the screen's and
the app's BINDINGS, so the list never goes stale. Keys a role may not use are left out, as the
footer leaves them out: a screen's ``role_allows(action)`` (if it has one; else its
``check_action``) decides.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from regtui.tui.widgets import screen_title

KEY_WIDTH = 9
ENTRY_WIDTH = 36  # one key and what it does; two side by side in 80 columns


def help_text(screen: Screen) -> str:
    """What ``screen`` says about itself: its ``help_text()``, else its ``HELP``."""
    method = getattr(screen, "help_text", None)
    return method() if callable(method) else getattr(screen, "HELP", "")


def key_lines(node, bindings, allowed, columns: int = 1) -> list[str]:
    """The actions of ``bindings`` that have a description and that ``allowed(action)`` lets
    through, ``columns`` to a line: each action's keys as the footer shows them, then what it does."""
    keys: dict[tuple[str, str], list[str]] = {}
    for binding in Binding.make_bindings(bindings):
        if binding.description and not binding.system and allowed(binding.action):
            keys.setdefault((binding.action, binding.description), []).append(node.app.get_key_display(binding))
    entries = [f"  {' '.join(shown):<{KEY_WIDTH}} {description}" for (_, description), shown in keys.items()]
    return ["".join(e.ljust(ENTRY_WIDTH) for e in entries[n:n + columns]).rstrip() for n in range(0, len(entries), columns)]


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.about = screen

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(f"Help: {screen_title(self.about)}", id="title", markup=False)
            yield Static(self._text(), id="keys", markup=False)

    def _text(self) -> str:
        screen, app = self.about, self.app
        allowed = getattr(screen, "role_allows", None) or (lambda action: screen.check_action(action, ()) is not False)
        parts = []
        about = help_text(screen).strip("\n")
        if about:
            parts.append(about + "\n")
        columns = 2 if app.size.width >= 2 * ENTRY_WIDTH + 6 else 1
        here = key_lines(screen, type(screen).BINDINGS, allowed, columns)
        if here:
            parts.append("Keys on this screen\n" + "\n".join(here) + "\n")
        everywhere = [Binding(app.COMMAND_PALETTE_BINDING, "command_palette", "command palette"), *type(app).BINDINGS]
        parts.append("Everywhere\n" + "\n".join(key_lines(app, everywhere, app.may, columns)))
        return "\n".join(parts)

    def action_dismiss(self) -> None:
        self.dismiss(None)
