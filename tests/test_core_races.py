"""The seat limit is held by the database itself, under real concurrency: separate
processes (each with its own connection) race for the last seats of a small pool, and
threads race to accept invitations for one code. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from peewee import IntegrityError

from regtui.core.errors import Refused
from regtui.core.models import Code, Invitation, Learner, Pool, database
from regtui.core.services import invitations
from test_core_support import check, claim_token, make_pool

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, os, sys, time
url, pool_id, worker, n, mode, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
from regtui.core import db
from regtui.core.errors import Refused
from regtui.core.models import Pool
from regtui.core.services import invitations, registrations
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.permissions import Actor
db.open_database(url)
actor = Actor("racer", "admin")
pool = Pool.get_by_id(pool_id)
pool.order, pool.session  # load what the services read, before the race starts
while not os.path.exists(go):
    time.sleep(0.005)
won, refused, errors = 0, 0, []
for i in range(n):
    email = f"w{worker}-{i}@example.com"
    try:
        if mode == "assign":
            registrations.assign(actor, pool, [LearnerSpec(email, "W", str(worker))])
        else:
            invitations.invite(actor, pool, [email])
        won += 1
    except Refused as exc:
        refused += 1
        errors.append(exc.code)
print(json.dumps({"won": won, "refused": refused, "codes": sorted(set(errors))}))
"""

PW = "Chosen-on-the-claim-page-1"  # the claim page asks a new learner for a password


def _race(db_url: str, pool_id: int, modes: list[str], per_worker: int, go: Path) -> list[dict]:
    database.close()  # the test's own connection must not hold anything while the workers run
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, db_url, str(pool_id), str(w), str(per_worker), mode, str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for w, mode in enumerate(modes)
    ]
    time.sleep(0.3)
    go.write_text("go")
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_processes_racing_for_the_last_seats_get_exactly_the_seats(admin, db_url, tmp_path):
    pool = make_pool(admin, 20)
    results = _race(db_url, pool.id, ["assign"] * 8, 10, tmp_path / "go")
    assert sum(r["won"] for r in results) == 20
    assert sum(r["refused"] for r in results) == 60
    assert {c for r in results for c in r["codes"]} <= {"seats-short"}
    assert check(pool) == {"available": 0, "invited": 0, "claimed": 20}
    # nobody lost: every winner holds exactly one code, every loser none, and no stray learners
    holders = [c.learner_id for c in Code.select().where(Code.pool == pool.id)]
    assert len(set(holders)) == 20
    assert Learner.select().count() == 20


def test_assigning_and_inviting_processes_share_the_limit(admin, db_url, tmp_path):
    pool = make_pool(admin, 20)
    results = _race(db_url, pool.id, ["assign", "invite"] * 3, 6, tmp_path / "go")
    assert sum(r["won"] for r in results) == 20
    counters = check(pool)
    assert counters["available"] == 0 and counters["invited"] + counters["claimed"] == 20
    assert Invitation.select().where(Invitation.status == "pending").count() == counters["invited"]


def test_twenty_parallel_accepts_of_one_code_have_one_winner(admin):
    pool = make_pool(admin, 3)
    [first] = invitations.invite(admin, pool, ["c0@example.com"])
    invs = [first] + [invitations.invite_instead(admin, first, f"c{i}@example.com", keep_others=True) for i in range(1, 20)]
    assert len({i.code_id for i in invs}) == 1
    assert check(pool) == {"available": 2, "invited": 1, "claimed": 0}
    toks = [claim_token(invitations.link(i)) for i in invs]
    database.close()
    barrier = threading.Barrier(len(toks))
    outcomes: list = [None] * len(toks)

    def accept(n: int) -> None:
        try:
            barrier.wait()
            try:
                invitations.accept(toks[n], "Racer", str(n), password=PW)
                outcomes[n] = "won"
            except Refused as exc:
                outcomes[n] = exc.code
        except Exception as exc:  # pragma: no cover - shown in the assertion below
            outcomes[n] = repr(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=accept, args=(n,)) for n in range(len(toks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcomes.count("won") == 1, outcomes
    assert all(o in ("won", "invalidated") for o in outcomes), outcomes
    winner = invs[outcomes.index("won")]
    statuses = {i.id: Invitation.get_by_id(i.id).status for i in invs}
    assert statuses[winner.id] == "accepted"
    assert [s for iid, s in statuses.items() if iid != winner.id] == ["invalidated"] * 19
    code = Code.get_by_id(first.code_id)
    assert code.state == "claimed" and Learner.get_by_id(code.learner_id).email == winner.email
    assert Learner.select().count() == 1
    assert check(pool) == {"available": 2, "invited": 0, "claimed": 1}


@pytest.mark.parametrize("change", [
    {"available": -1},
    {"claimed": -1, "available": 4},
    {"claimed": 1},
    {"seats": 7},
])
def test_the_database_refuses_broken_counters(admin, change):
    pool = make_pool(admin, 3)
    with pytest.raises(IntegrityError):
        with database.atomic():
            Pool.update(change).where(Pool.id == pool.id).execute()
    assert check(pool) == {"available": 3, "invited": 0, "claimed": 0}


def test_the_database_refuses_a_second_code_for_one_learner_in_a_pool(admin):
    pool = make_pool(admin, 3)
    from regtui.core.services import registrations
    from regtui.core.services.learners import LearnerSpec

    [seat] = registrations.assign(admin, pool, [LearnerSpec("one@example.com")])
    spare = Code.select().where((Code.pool == pool.id) & (Code.state == "available")).first()
    with pytest.raises(IntegrityError):
        with database.atomic():
            Code.update(learner=seat.learner.id).where(Code.id == spare.id).execute()
    check(pool)


def test_the_database_refuses_two_active_accesses_from_one_code(admin):
    from regtui.core.models import Access
    from regtui.core.services import registrations
    from regtui.core.services.learners import LearnerSpec

    pool = make_pool(admin, 2)
    [seat, other] = registrations.assign(admin, pool, [LearnerSpec("a@example.com"), LearnerSpec("b@example.com")])
    grant = Access.get(Access.code == seat.code_id)
    with pytest.raises(IntegrityError):
        with database.atomic():
            Access.create(learner=other.learner.id, session=grant.session_id, code=seat.code_id,
                          starts=grant.starts, status="active")
    check(pool)


SAME_PEOPLE = r"""
import json, os, sys, time
url, pool_id, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from regtui.core import db
from regtui.core.errors import Refused
from regtui.core.models import Pool
from regtui.core.services import registrations
from regtui.core.services.learners import LearnerSpec
from regtui.core.services.permissions import Actor
db.open_database(url)
pool = Pool.get_by_id(pool_id)
pool.order, pool.session
while not os.path.exists(go):
    time.sleep(0.005)
failures = []
for i in range(10):
    try:
        registrations.assign(Actor("racer", "admin"), pool, [LearnerSpec(f"same{i}@example.com", "Same", str(i))])
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
print(json.dumps(failures))
"""


def test_two_customers_giving_seats_to_the_same_new_people_at_once(admin, db_url, tmp_path):
    """Different pools, the same new learners, at the same moment: every seat is given,
    each person gets one account, nobody sees a database error."""
    pools = [make_pool(admin, 10) for _ in range(4)]
    database.close()
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", SAME_PEOPLE, db_url, str(p.id), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for p in pools]
    time.sleep(0.3)
    go.write_text("go")
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert [json.loads(out.strip().splitlines()[-1]) for out, _ in outs] == [[]] * 4
    assert Learner.select().count() == 10
    for p in pools:
        assert check(p) == {"available": 0, "invited": 0, "claimed": 10}
