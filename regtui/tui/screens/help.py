"""`?`: the key map."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = """\
Everywhere
  ?          this help              ctrl+p   command palette
  escape     back                   q        quit
  c          customers              b        batch (rosters)
  o          outbox                 a        audit log
  t          email templates        h        shops and orders

Customers
  /          filter (as you type)   enter    open customer
  s          sort by next column    r        reverse sort
  ] [        next / previous page   n        new customer (admins)
  e          sync a learner to eCommerce

Customer
  enter      open pool              x        remove registration
  d          edit access dates (admins)

Pool (tabs: Assign, Invite, Pending, Completed)
  1 2 3 4    switch tab             enter    act on the selected row
  l          copy invitation link   r        resend
  x          cancel / remove        g        assign pending seat
  i          invite someone else instead
"""


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static("Keys", id="title", markup=False)
            yield Static(KEYS, id="keys", markup=False)

    def action_dismiss(self) -> None:
        self.dismiss(None)
