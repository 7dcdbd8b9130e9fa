"""Operators: who is who (roles and permissions themselves are in ``permissions``).

The operator is the OS login user (taken from the process's real uid, not from $USER, so it
cannot be spoofed by an environment variable). Only an admin may act as another operator.
"""

from __future__ import annotations

import os
import pwd

from regtui.core.errors import NotAllowed, NotFound, Refused, UsageError
from regtui.core.db import dialect
from regtui.core.models import Customer, Operator, database
from regtui.core.services import audit
from regtui.core.services.permissions import PERMISSIONS, ROLES, SYSTEM, Actor, require  # noqa: F401 (re-exported)


def login_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def _actor(row: Operator) -> Actor:
    return Actor(name=row.name, role=row.role, customer_id=row.customer_id)


def actor_of(row: Operator, via: str) -> Actor:
    """The operator ``row`` signed in some other way than as the OS user (an SSH key, the roster page)."""
    return Actor(name=row.name, role=row.role, customer_id=row.customer_id, via=via)


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
        dialect().lock_table("operator")  # two first inits at once must not make two admins
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
        # two admins demoting each other at once must not both see "one other admin left"
        list(dialect().locked(Operator.select(Operator.id).where(Operator.role == "admin")))
        admins = Operator.select().where(Operator.role == "admin").count()
        if admins <= 1:
            raise Refused(f"{row.name} is the last admin; make someone else admin first.")


def _describe(row: Operator) -> dict:
    return {"name": row.name, "role": row.role, "customer_id": row.customer_id}
