"""Messages the TUI's workers post (past tense: something has happened).

Workers run services in threads and post one of these; handlers on screens update widgets.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ActionFailed(Message):
    """A service refused or failed; ``sentence`` is what to show the user."""

    def __init__(self, sentence: str) -> None:
        super().__init__()
        self.sentence = sentence


class CustomersLoaded(Message):
    """One page of the customers list, for the request ``request``."""

    def __init__(self, request: int, rows: list, total: int, offset: int) -> None:
        super().__init__()
        self.request, self.rows, self.total, self.offset = request, rows, total, offset


class CustomerCreated(Message):
    def __init__(self, customer_id: int, name: str) -> None:
        super().__init__()
        self.customer_id, self.name = customer_id, name


class CustomerSynced(Message):
    def __init__(self, customer_id: int, name: str, created: bool) -> None:
        super().__init__()
        self.customer_id, self.name, self.created = customer_id, name, created


class CustomerLoaded(Message):
    """A customer with its pools (its users list reads its own pages)."""

    def __init__(self, customer: dict, pools: list) -> None:
        super().__init__()
        self.customer, self.pools = customer, pools


class AccessLoaded(Message):
    """A learner's content access rows (models read in the worker, plain values here)."""

    def __init__(self, email: str, rows: list[dict]) -> None:
        super().__init__()
        self.email, self.rows = email, rows


class PoolLoaded(Message):
    """A pool's row (names and counters); its lists read their own pages."""

    def __init__(self, pool: Any) -> None:
        super().__init__()
        self.pool = pool


class TickedDone(Message):
    """An action on ticked rows (``what``: cancel, remove) changed ``count`` of them."""

    def __init__(self, what: str, count: int) -> None:
        super().__init__()
        self.what, self.count = what, count


class SeatsAssigned(Message):
    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count


class InvitationsSent(Message):
    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count


class AddressesImported(Message):
    def __init__(self, addresses: list[str], path: str) -> None:
        super().__init__()
        self.addresses, self.path = addresses, path


class RegistrationRemoved(Message):
    def __init__(self, email: str) -> None:
        super().__init__()
        self.email = email


class ConfirmationResent(Message):
    def __init__(self, email: str) -> None:
        super().__init__()
        self.email = email


class InvitationResent(Message):
    def __init__(self, email: str) -> None:
        super().__init__()
        self.email = email


class InvitationCancelled(Message):
    def __init__(self, email: str) -> None:
        super().__init__()
        self.email = email


class InvitationReplaced(Message):
    def __init__(self, old: str, new: str) -> None:
        super().__init__()
        self.old, self.new = old, new


class PendingAssigned(Message):
    def __init__(self, email: str) -> None:
        super().__init__()
        self.email = email
