"""Operators and roles: who may do what.

The operator is the OS login user (taken from the process's real uid, not from $USER, so it
cannot be spoofed by an environment variable). Only an admin may act as another operator.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from regtui.core.errors import NotAllowed, NotFound, Refused, UsageError
from regtui.core.db import is_postgres
from regtui.core.models import Customer, Operator, database
from regtui.core.services import audit

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
    "customers.sync": (STAFF, "Syncing a learner to eCommerce"),
    "customers.view": (STAFF, "Listing all customers"),
    "orders.add": (STAFF, "Adding an order"),
    "audit.view": (STAFF, "Reading the audit log"),
    "mail.send": (STAFF, "Sending the outbox"),
    "mail.view": (STAFF, "Reading the outbox (every customer's emails)"),
    "access.view": (STAFF, "Viewing a learner's content access"),
    "seats.assign": (EVERYONE, "Assigning seats"),
    "seats.invite": (EVERYONE, "Inviting learners"),
    "seats.revoke": (EVERYONE, "Removing a registration"),
    "seats.view": (EVERYONE, "Viewing pools"),
    "batch.apply": (EVERYONE, "Applying a roster"),
}


@dataclass(frozen=True)
class Actor:
    """The operator a service acts for. ``customer_id`` is set for managers only."""

    name: str
    role: str
    customer_id: int | None = None

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


def login_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _actor(row: Operator) -> Actor:
    return Actor(name=row.name, role=row.role, customer_id=row.customer_id)


def current(as_name: str | None = None) -> Actor:
    """The operator running this process, or, for an admin, the one named by ``--as``."""
    me = login_name()
    row = Operator.get_or_none(Operator.name == me)
    if row is None:
        raise NotAllowed(f"{me} is not a regtui operator; an admin can add you with `regtui operators add {me} --role ROLE`.")
    actor = _actor(row)
    if as_name and as_name != me:
        if not actor.is_admin:
            raise NotAllowed(f"Acting as another operator needs the admin role; {me} is {actor.role}.")
        other = Operator.get_or_none(Operator.name == as_name)
        if other is None:
            raise NotFound(f"There is no operator called {as_name!r}.")
        actor = _actor(other)
    return actor


def is_operator(name: str) -> bool:
    return Operator.select().where(Operator.name == name).exists()


def make_first_admin(name: str) -> bool:
    """Make ``name`` the first admin of a database that has no operator yet (``regtui init``).
    Once there is one, only an admin adds operators (``set_operator``): running ``init`` on an
    existing database adds nobody, whoever runs it."""
    with database.atomic():
        if is_postgres():
            # two first inits at once must not make two admins
            database.execute_sql('LOCK TABLE "operator" IN SHARE ROW EXCLUSIVE MODE')
        if Operator.select().exists():
            return False
        row = Operator.create(name=name, role="admin")
        audit.record(SYSTEM, "operator.add", row, after={"name": name, "role": "admin"})
        return True


def list_operators(actor: Actor) -> list[Operator]:
    require(actor, "operators.manage")
    return list(Operator.select().order_by(Operator.name))


def set_operator(actor: Actor, name: str, role: str, customer: Customer | None = None) -> Operator:
    """Add an operator or change its role."""
    require(actor, "operators.manage")
    if role not in ROLES:
        raise UsageError(f"Unknown role {role!r}: use admin, limited or manager.")
    if (role == "manager") != (customer is not None):
        raise UsageError("A manager needs exactly one customer (--customer), and only a manager has one.")
    with database.atomic():
        row = Operator.get_or_none(Operator.name == name)
        before = _describe(row) if row else None
        if row is None:
            row = Operator.create(name=name, role=role, customer=customer)
        else:
            _keep_one_admin(row, role)
            row.role, row.customer = role, customer
            row.save()
        audit.record(actor, "operator.set", row, before=before, after=_describe(row))
    return row


def remove_operator(actor: Actor, name: str) -> None:
    require(actor, "operators.manage")
    with database.atomic():
        row = Operator.get_or_none(Operator.name == name)
        if row is None:
            raise NotFound(f"There is no operator called {name!r}.")
        _keep_one_admin(row, None)
        audit.record(actor, "operator.remove", row, before=_describe(row))
        row.delete_instance()


def _keep_one_admin(row: Operator, new_role: str | None) -> None:
    if row.role == "admin" and new_role != "admin":
        if is_postgres():
            # two admins demoting each other at once must not both see "one other admin left"
            list(Operator.select(Operator.id).where(Operator.role == "admin").for_update())
        admins = Operator.select().where(Operator.role == "admin").count()
        if admins <= 1:
            raise Refused(f"{row.name} is the last admin; make someone else admin first.")


def _describe(row: Operator) -> dict:
    return {"name": row.name, "role": row.role, "customer_id": row.customer_id}
