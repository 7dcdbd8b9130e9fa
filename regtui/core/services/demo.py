"""`regtui init --demo`: a realistic data set to explore, made through the services."""

from __future__ import annotations

import datetime as dt
import random

from regtui.core.models import Customer, database
from regtui.core.services import catalog, customers, invitations, orders, registrations
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.permissions import Actor
from regtui.core.words import plural

PRODUCTS = [
    ("PYDATA", "Python for Data Teams", [("PYDATA-2027-03", "March 2027", 180), ("PYDATA-2027-09", "September 2027", 180)]),
    ("SECAWARE", "Security Awareness", [("SECAWARE-2027", "2027 cohort", 365)]),
    ("LEAD101", "Leading Remote Teams", [("LEAD101-SPRING", "Spring 2027", 90)]),
    ("GDPR", "GDPR Essentials", [("GDPR-ONDEMAND", "On demand", None)]),
]

CUSTOMERS = [
    ("Northwind Traders", "training@northwind.example.com"),
    ("Contoso Health", "hr@contoso-health.example.com"),
    ("Fabrikam Logistics", "people@fabrikam.example.org"),
    ("Tailspin Toys", "academy@tailspin.example.com"),
    ("Adventure Works", "learning@adventure-works.example.org"),
    ("Wide World Importers", "hr@wideworld.example.com"),
]

FIRST = ["Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia", "Tim", "Frances",
         "Edsger", "Hedy", "John", "Sophie", "Niklaus", "Anita", "Guido", "Shafi", "José", "Zoë", "Müller", "Chen"]
LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Perlman",
        "Berners-Lee", "Allen", "Dijkstra", "Lamarr", "McCarthy", "Wilson", "Wirth", "Borg", "van Rossum", "Goldwasser"]

# (customer index, session code, seats, claimed, invited)
POOLS = [
    (0, "PYDATA-2027-03", 25, 12, 5),
    (0, "SECAWARE-2027", 600, 40, 10),
    (1, "SECAWARE-2027", 120, 80, 15),
    (1, "GDPR-ONDEMAND", 10, 10, 0),
    (2, "LEAD101-SPRING", 8, 3, 2),
    (3, "PYDATA-2027-09", 15, 0, 6),
    (4, "GDPR-ONDEMAND", 50, 22, 4),
]


def fill(actor: Actor, seed: int = 7) -> str:
    """Create the demo catalog, customers, orders and seats; returns a one-line summary."""
    if Customer.select().count():
        return "already there, left as it was"
    rng = random.Random(seed)
    sessions = {}
    for code, name, runs in PRODUCTS:
        product = catalog.add_product(actor, code, name)
        for scode, sname, days in runs:
            sessions[scode] = catalog.add_session(actor, product, scode, f"{name}, {sname}", access_days=days,
                                                  starts=dt.date(2027, 3, 1))
    made = [customers.add(actor, name, email) for name, email in CUSTOMERS]
    claimed = invited = 0
    for n, (ci, scode, seats, n_claimed, n_invited) in enumerate(POOLS):
        customer = made[ci]
        _, [pool] = orders.add(actor, customer, [orders.OrderLine(sessions[scode], seats)], number=f"SO-{2027000 + n}")
        domain = customer.email.split("@", 1)[1]
        people = [_person(rng, domain, k) for k in range(n_claimed + n_invited)]
        if n_claimed:
            registrations.assign(actor, pool, people[:n_claimed])
        if n_invited:
            invitations.invite(actor, pool, [p.email for p in people[n_claimed:]], "Welcome aboard!")
        claimed += n_claimed
        invited += n_invited
    with database.atomic():
        customers.new_with_account(actor, "Grace Hopper (private buyer)", "grace.hopper@example.net", "Grace", "Hopper")
    return (f"{plural(len(made) + 1, 'customer')}, {plural(len(POOLS), 'pool')}, {plural(claimed, 'claimed seat')}, "
            f"{plural(invited, 'pending invitation')}")


def _person(rng: random.Random, domain: str, k: int) -> LearnerSpec:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{first}.{last}.{k}".lower().replace(" ", "").replace("é", "e").replace("ë", "e").replace("ü", "u")
    return LearnerSpec(f"{local}@{domain}", first, last)
