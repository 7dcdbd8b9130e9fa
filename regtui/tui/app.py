"""The regtui TUI: an app shell around screens; every action calls a service."""

from __future__ import annotations

import importlib
import re
from functools import partial
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from regtui.core.services.permissions import Actor
from regtui.tui.widgets import screen_title

# (title, help, app action) for the command palette
ACTIONS = [
    ("Customers", "Open the customers list", "customers"),
    ("Batch", "Plan and apply a roster", "batch"),
    ("Outbox", "Emails waiting to be sent", "outbox"),
    ("Audit log", "Who did what, when", "audit"),
    ("Email templates", "Edit the email templates", "templates"),
    ("Shops and orders", "Orders with their source shop; unmatched shop lines to map and replay", "shops"),
    ("Webhooks", "Learning platforms' endpoints, their deliveries and failures; retry now", "hooks"),
    ("New customer", "Create a customer with its learner account (admins)", "new_customer"),
    ("Sync to eCommerce", "Make or link the customer of a learner", "sync_customer"),
    ("Help", "Show the keys", "help"),
    ("Quit", "Leave regtui", "quit"),
]

# app action -> the permission its screen needs (hidden from roles without it, as the README says)
NEEDS = {"outbox": "mail.view", "audit": "audit.view", "hooks": "hooks.view", "new_customer": "customers.new", "sync_customer": "customers.sync"}

# Rich's colour systems of a terminal that shows 16 colours (TERM=xterm, screen, linux; or
# TEXTUAL_COLOR_SYSTEM=standard)
SIXTEEN_COLOURS = ("standard", "windows")

OTHER_SCREENS = {
    "batch": ("regtui.tui.screens.batch", "BatchScreen"),
    "outbox": ("regtui.tui.screens.outbox", "OutboxScreen"),
    "audit": ("regtui.tui.screens.audit", "AuditScreen"),
    "templates": ("regtui.tui.screens.templates", "TemplatesScreen"),
    "shops": ("regtui.tui.screens.shops", "ShopsScreen"),
    "hooks": ("regtui.tui.screens.hooks", "HooksScreen"),
}


class RegtuiCommands(Provider):
    """The command palette's one provider: every action of the app, the actions of the screen the
    palette was opened on (its own BINDINGS, not the focused widget's cursor moves), and Textual's
    system commands (``App.get_system_commands``: theme, keys, screenshot), each title once.

    A command is found by its title (fuzzy, as Textual matches), or by whole words of its help:
    a binding's ``tooltip`` holds the other words people use for it ("revoke" finds Cancel/Remove)."""

    def _commands(self):
        seen_actions, seen_titles = set(), set()

        def first(title: str, action: str = "") -> bool:
            new = title.lower() not in seen_titles and (not action or action not in seen_actions)
            seen_titles.add(title.lower())
            seen_actions.add(action)
            return new

        for title, help_text, action in ACTIONS:
            if self.app.may(action) and first(title, action):
                yield title, help_text, partial(self.app.run_action, action)
        screen = self.screen
        name = screen_title(screen)
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if active.node is not screen or not (active.enabled and binding.description):
                continue  # the focused widget's own keys (cursor moves, ticks) are not screen actions
            if first(binding.description, binding.action):
                help_text = f"{name} · key {self.app.get_key_display(binding)}" + (f" · {binding.tooltip}" if binding.tooltip else "")
                yield binding.description, help_text, partial(self.app.run_action, binding.action, screen)
        for title, help_text, callback, *_ in self.app.get_system_commands(screen):
            if first(title):
                yield title, help_text, callback

    async def discover(self) -> Hits:
        for title, help_text, run in self._commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        words = query.lower().split()
        for title, help_text, run in self._commands():
            score = matcher.match(title)
            if score <= 0 and words and all(_has_word(help_text, word) for word in words):
                score = 0.1  # below every title match
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, text=title, help=help_text)


def _has_word(text: str, word: str) -> bool:
    """Whether a word of ``text`` starts with ``word`` ("rev" is in "revoke a seat")."""
    return any(w.startswith(word) for w in re.findall(r"\w+", text.lower()))


# Every screen's stylesheet (each beside its screen), read with the app's: Textual reads a screen's
# CSS_PATH on its first visit, then parses every stylesheet again and restyles every screen open,
# a tenth of a pool screen's first paint (issue 14). Read here, the screens find them already read.
SCREEN_CSS = sorted(str(p.relative_to(Path(__file__).parent)) for p in Path(__file__).parent.glob("*/*.tcss"))


class RegtuiApp(App):
    CSS_PATH = ["app.tcss", *SCREEN_CSS]
    TITLE = "regtui"
    COMMANDS = {RegtuiCommands}  # which also lists Textual's system commands, without duplicates
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("f1", "help", "Help", show=False, priority=True),  # also while typing in a field
        Binding("escape", "back", "Back", show=False),
        Binding("c", "customers", "Customers", show=False),
        Binding("b", "batch", "Batch", show=False),
        Binding("o", "outbox", "Outbox", show=False),
        Binding("a", "audit", "Audit", show=False),
        Binding("t", "templates", "Templates", show=False),
        Binding("h", "shops", "Shops", show=False),
        Binding("w", "hooks", "Webhooks", show=False),
    ]

    def __init__(self, actor: Actor, db_label: str = "") -> None:
        super().__init__()
        self.actor = actor
        self.db_label = db_label

    def may(self, action: str) -> bool:
        """Whether the operator's role allows the app action ``action`` (its key and palette entry)."""
        needs = NEEDS.get(action)
        return needs is None or self.actor.can(needs)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.may(action)

    def on_mount(self) -> None:
        if self.console.color_system in SIXTEEN_COLOURS:
            # blended RGB shades collapse to one of 16 colours (the cursor row's blue to cyan under
            # white text): use the terminal's own palette instead, through Textual's ANSI theme,
            # whose cursor is black on white and whose buttons are coloured text on the default
            self.theme = "ansi-dark"
        self.title = f"regtui — {self.actor.name} ({self.actor.role})"
        self.sub_title = self.db_label
        self.action_customers()

    # --- navigation ------------------------------------------------------------------------

    def action_customers(self) -> None:
        from regtui.tui.screens.customers import CustomersScreen

        for n, screen in enumerate(self.screen_stack):
            if isinstance(screen, CustomersScreen):
                self._pop_down_to(n + 1)
                return
        self.push_screen(CustomersScreen())

    def _pop_down_to(self, depth: int) -> None:
        """Pop screens until ``depth`` are left; a screen with unsaved edits (one with ``leave``) asks first."""
        if len(self.screen_stack) <= depth:
            return
        self.leave_screen(lambda: (self.pop_screen(), self._pop_down_to(depth)))

    def leave_screen(self, then) -> None:
        """Call ``then`` to leave the top screen, once that screen agrees (it may ask about unsaved edits)."""
        leave = getattr(self.screen, "leave", None)
        if leave is None:
            then()
        else:
            leave(then)

    def action_back(self) -> None:
        """Escape: out of a text field first (its screen's keys work again), then back a screen."""
        from textual.widgets import Input, TextArea

        if isinstance(self.focused, (Input, TextArea)):
            self.set_focus(None)
            return
        if len(self.screen_stack) > 2:
            self.leave_screen(self.pop_screen)

    def action_help(self) -> None:
        from regtui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def _open(self, module_name: str, class_name: str) -> None:
        """Push a screen (imported when first wanted, so the app starts quickly) unless it is on top
        or the operator's role may not see it."""
        action = next((a for a, (_, name) in OTHER_SCREENS.items() if name == class_name), "")
        if not self.may(action):
            return
        if type(self.screen).__name__ != class_name:
            self.push_screen(getattr(importlib.import_module(module_name), class_name)())

    def action_batch(self) -> None:
        self._open(*OTHER_SCREENS["batch"])

    def action_outbox(self) -> None:
        self._open(*OTHER_SCREENS["outbox"])

    def action_audit(self) -> None:
        self._open(*OTHER_SCREENS["audit"])

    def action_templates(self) -> None:
        self._open(*OTHER_SCREENS["templates"])

    def action_hooks(self) -> None:
        self._open(*OTHER_SCREENS["hooks"])

    def action_shops(self) -> None:
        self._open(*OTHER_SCREENS["shops"])

    # --- actions of the customers screen, reachable from anywhere ---------------------------

    def _customers_screen(self):
        self.action_customers()
        return self.screen_stack[-1] if type(self.screen_stack[-1]).__name__ == "CustomersScreen" else None

    def action_new_customer(self) -> None:
        if not self.actor.can("customers.new"):
            self.notify("Creating a customer with its learner account needs the admin role.", severity="error")
            return
        screen = self._customers_screen()
        if screen is not None:
            screen.action_new_customer()

    def action_sync_customer(self) -> None:
        if not self.actor.can("customers.sync"):
            self.notify("Syncing a learner to eCommerce needs the admin or limited role.", severity="error")
            return
        screen = self._customers_screen()
        if screen is not None:
            screen.action_sync_customer()
