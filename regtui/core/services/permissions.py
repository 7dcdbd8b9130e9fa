"""Roles and permissions: which role may do what, and the operator a service acts for.

A leaf module (it imports no other service), so that every service, the audit log included,
can check permissions without importing the operators service that stores who is who."""

from __future__ import annotations

from dataclasses import dataclass

from regtui.core.errors import NotAllowed

ROLES = ("admin", "limited", "manager")
ADMIN = frozenset({"admin"})
STAFF = frozenset({"admin", "limited"})
EVERYONE = frozenset(ROLES)

PERMISSIONS: dict[str, tuple[frozenset[str], str]] = {
    "operators.manage": (ADMIN, "Managing operators"),
    "templates.edit": (ADMIN, "Editing email templates"),
    "access.extend": (ADMIN, "Editing access dates"),
    "customers.new": (ADMIN, "Creating a customer with its learner account"),
    "catalog.edit": (ADMIN, "Editing products and sessions"),
    "shops.manage": (ADMIN, "Connecting shops and mapping their products"),
    "shops.orders": (ADMIN, "Making orders (and portal accounts) from a shop's orders"),
    "shops.view": (STAFF, "Reading shops, their deliveries and unmatched lines"),
    "shops.sync": (STAFF, "Sending customers to the shops"),
    "customers.sync": (STAFF, "Syncing a learner to eCommerce"),
    "customers.view": (STAFF, "Listing all customers"),
    "orders.add": (STAFF, "Adding an order"),
    "audit.view": (STAFF, "Reading the audit log"),
    "mail.send": (STAFF, "Sending the outbox"),
    "mail.view": (STAFF, "Reading the outbox (every customer's emails)"),
    "access.view": (STAFF, "Viewing a learner's content access"),
    "hooks.manage": (ADMIN, "Managing webhook endpoints"),
    "hooks.view": (STAFF, "Reading webhook endpoints and their deliveries"),
    "tokens.manage": (ADMIN, "Managing API tokens"),
    "seats.assign": (EVERYONE, "Assigning seats"),
    "seats.invite": (EVERYONE, "Inviting learners"),
    "seats.revoke": (EVERYONE, "Removing a registration"),
    "seats.view": (EVERYONE, "Viewing pools"),
    "batch.apply": (EVERYONE, "Applying a roster"),
}


@dataclass(frozen=True)
class Actor:
    """The operator a service acts for. ``customer_id`` is set for managers only; ``via`` says how
    they came in when not as the OS user (``ssh SHA256:...`` for a key, ``web`` for the roster page)."""

    name: str
    role: str
    customer_id: int | None = None
    via: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can(self, permission: str, customer_id: int | None = None) -> bool:
        roles, _ = PERMISSIONS[permission]
        if self.role not in roles:
            return False
        if self.role == "manager" and customer_id is not None:
            return customer_id == self.customer_id
        return True


SYSTEM = Actor(name="regtui", role="admin")


def require(actor: Actor, permission: str, customer_id: int | None = None) -> None:
    """Raise NotAllowed, naming the role needed, unless ``actor`` may do ``permission``."""
    roles, what = PERMISSIONS[permission]
    if actor.role not in roles:
        needed = " or ".join(r for r in ROLES if r in roles)
        raise NotAllowed(f"{what} needs the {needed} role; {actor.name} is {actor.role}.")
    if actor.role == "manager" and customer_id is not None and customer_id != actor.customer_id:
        raise NotAllowed(f"{actor.name} manages another customer's seats, not this one.")
