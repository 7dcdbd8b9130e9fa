"""A saved plan is signed, and the services trust no identity key or id a caller hands them
(issue 8 item 2): an edited PLAN.json, another customer's invitation id, an email whose key was
left alone, an address with a CR/LF header injection are all refused, and the database is unchanged."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from batch.planning import PlanOptions, apply_result, plan_roster
from regtui.core.errors import Refused
from regtui.core.models import Invitation, database
from regtui.core.services import invitations, registrations
from regtui.core.services.learners import LearnerSpec

from test_batch_cli import make_pool, reopen, write_csv
from test_core_support import dump

pytestmark = pytest.mark.storage


@pytest.fixture
def two_customers(db, admin, tmp_path):
    """Pool A (order 1001) with a pending invitation for a@example.com; pool B of another customer
    (order 2002) with one for victim@example.com."""
    pool_a, pool_b = make_pool(admin, 10, "1001"), make_pool(admin, 10, "2002")
    [inv_a] = invitations.invite(admin, pool_a, ["a@example.com"])
    [inv_b] = invitations.invite(admin, pool_b, ["victim@example.com"])
    return pool_a, pool_b, inv_a, inv_b


def saved_plan(cli, tmp_path, rows: list[list[str]]) -> tuple:
    roster = write_csv(tmp_path / "r.csv", [["action", "email", "first_name", "last_name"]] + rows)
    out = tmp_path / "plan.json"
    r = cli("batch", "plan", str(roster), "--pool", "1001-1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out, json.loads(out.read_text())


def refused_edit(cli, out, data) -> str:
    out.write_text(json.dumps(data))
    r = cli("batch", "apply", str(out), "--yes")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    return r.stderr


def test_an_edited_saved_plan_is_refused_in_one_sentence(two_customers, cli, tmp_path):
    pool_a, pool_b, inv_a, inv_b = two_customers
    reopen()
    before = dump()
    database.close()
    out, data = saved_plan(cli, tmp_path, [["revoke", "a@example.com", "", ""], ["create", "alice@example.com", "Al", "Ice"]])
    fields = data["change_fields"]
    revoke = next(c for c in data["changes"] if c[fields.index("kind")] == "revoke")
    assert revoke[fields.index("invitation_id")] == inv_a.id
    # another customer's invitation
    revoke[fields.index("invitation_id")] = inv_b.id
    revoke[fields.index("code_id")] = inv_b.code_id
    assert "was changed after `regtui batch plan --out` saved it" in refused_edit(cli, out, data)
    # an email changed, its key left alone
    out, data = saved_plan(cli, tmp_path, [["create", "alice@example.com", "Al", "Ice"]])
    data["changes"][0][fields.index("email")] = "mallory@example.com"
    refused_edit(cli, out, data)
    # a header injection, key and all
    out, data = saved_plan(cli, tmp_path, [["create", "alice@example.com", "Al", "Ice"]])
    data["changes"][0][fields.index("email")] = "x\r\nBcc: all@example.com"
    data["changes"][0][fields.index("key")] = "x\r\nbcc: all@example.com"
    refused_edit(cli, out, data)
    # options are signed too: --skip-invalid cannot be switched on by hand
    out, data = saved_plan(cli, tmp_path, [["create", "alice@example.com", "Al", "Ice"]])
    data["options"]["skip_invalid"] = True
    refused_edit(cli, out, data)
    reopen()
    assert dump() == before
    assert Invitation.get_by_id(inv_b.id).status == "pending"


def test_the_applier_and_services_check_every_id_and_key(two_customers, admin, tmp_path):
    """With the MAC out of the way (a plan forged in memory), the apply still refuses."""
    pool_a, pool_b, inv_a, inv_b = two_customers
    roster = write_csv(tmp_path / "r.csv", [["action", "email", "first_name", "last_name"],
                                            ["revoke", "a@example.com", "", ""], ["create", "alice@example.com", "Al", "Ice"]])
    result = plan_roster(admin, roster, PlanOptions(pool="1001-1"))
    plan = result.plan
    before = dump()

    def forged(**edit_of_kind) -> object:
        changes = tuple(c._replace(**edit_of_kind[c.kind]) if c.kind in edit_of_kind else c for c in plan.changes)
        return replace(plan, changes=changes)

    cases = [
        forged(revoke={"invitation_id": inv_b.id, "code_id": inv_b.code_id}),  # another customer's invitation
        forged(create={"email": "mallory@example.com"}),  # email edited, key not
        forged(create={"email": "x\r\nBcc: all@example.com", "key": "x\r\nbcc: all@example.com"}),
    ]
    for bad in cases:
        with pytest.raises(Refused) as err:
            apply_result(admin, bad)
        assert err.value.code in ("tampered", "invalid-email"), err.value
        assert dump() == before
    # the services on their own: another pool's invitation, an address with CR/LF
    with pytest.raises(Refused):
        invitations.cancel_many(admin.name, pool_a, [Invitation(id=inv_b.id, code=inv_a.code_id)])
    with pytest.raises(Refused):
        registrations.revoke_codes(admin.name, pool_a, [registrations.Code(id=inv_b.code_id)])
    with pytest.raises(Refused, match="line break"):
        registrations.assign(admin, pool_a, [LearnerSpec("x\r\nBcc: all@example.com", "X", "Y")])
    with pytest.raises(Refused, match="line break"):
        invitations.invite(admin, pool_a, ["y@example.com\r\nBcc: all@example.com"])
    assert dump() == before
    # and the real plan still applies
    apply_result(admin, plan)
    assert Invitation.get_by_id(inv_a.id).status == "cancelled"
    assert Invitation.get_by_id(inv_b.id).status == "pending"
