"""A long random walk through the seat lifecycle: whatever the order of assign, invite,
invite-instead, accept, assign-pending, cancel, expire and revoke, the pool's counters
equal its codes and available + invited + claimed == seats after every step."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from regtui.core.errors import NotFound, Refused
from regtui.core.models import Code, Invitation, Learner
from regtui.core.services import expiry, invitations, registrations
from regtui.core.services.learners import LearnerSpec
from test_core_support import check, claim_token, make_pool

PW = "Chosen-on-the-claim-page-1"  # the claim page asks a new learner for a password


@pytest.mark.parametrize("seed", [1, 2])
def test_random_walk_keeps_the_invariant(admin, seed):
    rng = random.Random(seed)
    pool = make_pool(admin, 6)
    people = [f"p{i}@example.com" for i in range(12)]
    done = {"ok": 0, "refused": 0}

    def pending():
        return list(Invitation.select().join(Code).where((Code.pool == pool.id) & (Invitation.status == "pending")))

    def seated():
        return [l.email for l in Learner.select().join(Code, on=(Code.learner == Learner.id)).where(Code.pool == pool.id)]

    steps = {
        "assign": lambda: registrations.assign(admin, pool, [LearnerSpec(e, "R", "W") for e in rng.sample(people, rng.randint(1, 3))]),
        "invite": lambda: invitations.invite(admin, pool, rng.sample(people, rng.randint(1, 2))),
        "instead": lambda: invitations.invite_instead(admin, rng.choice(pending()), rng.choice(people), keep_others=rng.random() < 0.5),
        "accept": lambda: invitations.accept(claim_token(invitations.link(rng.choice(pending()))), "A", "B", password=PW),
        "assign_pending": lambda: invitations.assign_pending(admin, rng.choice(pending()),
                                                             rng.choice([None, LearnerSpec(rng.choice(people), "X", "Y")])),
        "cancel": lambda: invitations.cancel(admin, rng.choice(pending())),
        "expire": lambda: (Invitation.update(expires_at=dt.datetime(2020, 1, 1))
                           .where(Invitation.id == rng.choice(pending()).id).execute(), expiry.expire_due()),
        "revoke": lambda: registrations.revoke(admin, pool, [rng.choice(seated())]),
    }
    for _ in range(70):
        name = rng.choice(list(steps))
        try:
            steps[name]()
            done["ok"] += 1
        except (Refused, NotFound, IndexError):  # IndexError: nothing to pick from
            done["refused"] += 1
        check(pool)
    assert done["ok"] > 10
