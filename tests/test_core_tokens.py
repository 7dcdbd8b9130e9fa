"""Invitation and set-password links: unguessable, single use, expiring, and not
readable from a copy of the database without the secret key file."""

from __future__ import annotations

import base64
import datetime as dt
import os
import threading

import pytest

from regtui.core.errors import Refused, UsageError
from regtui.core.models import Invitation, Learner
from regtui.core.services import invitations, learners, registrations, tokens
from regtui.core.services.learners import LearnerSpec
from test_core_support import check, claim_token, dump, dump_text, mails, make_pool, set_password_token

PW = "Chosen-on-the-claim-page-1"  # the claim page asks a new learner for a password


def _mac_bytes(token: str) -> bytes:
    _, _, mac = token.partition(".")
    return base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))


def _invite(admin, n=1, seats_n=5):
    pool = make_pool(admin, seats_n)
    invs = invitations.invite(admin, pool, [f"t{i}@example.com" for i in range(n)])
    return pool, invs


def test_tokens_carry_at_least_128_random_bits_and_differ(admin):
    pool, invs = _invite(admin, 20, 20)
    toks = [claim_token(invitations.link(i)) for i in invs]
    assert len(set(toks)) == 20
    for inv, tok in zip(invs, toks):
        assert len(_mac_bytes(tok)) * 8 >= 128
        assert len(bytes.fromhex(inv.nonce)) * 8 >= 128
    assert len({i.nonce for i in invs}) == 20


def test_the_database_alone_does_not_reveal_links(admin):
    pool, [inv] = _invite(admin)
    registrations.assign(admin, pool, [LearnerSpec("pw@example.com")])
    claim = claim_token(invitations.link(inv))
    setpw = set_password_token(mails("pw@example.com")[0].body)
    # No table holds a link, the outbox included: emails get theirs at send time.
    text = dump_text()
    for tok in (claim, setpw):
        mac = tok.partition(".")[2]
        assert tok not in text and mac not in text


def test_another_secret_key_gives_other_links_and_refuses_the_old_ones(admin, tmp_path, monkeypatch):
    pool, [inv] = _invite(admin)
    link_a = invitations.link(inv)
    assert invitations.link(Invitation.get_by_id(inv.id)) == link_a  # "copy link" shows the same link again
    key_b = tmp_path / "other.key"
    assert tokens.create_key(key_b)
    monkeypatch.setenv("REGTUI_SECRET_KEY_FILE", str(key_b))
    try:
        link_b = invitations.link(Invitation.get_by_id(inv.id))
        assert link_b != link_a
        before = dump()
        with pytest.raises(Refused) as err:
            invitations.accept(claim_token(link_a), "A", "B", password=PW)
        assert err.value.code == "bad-link"
        assert dump() == before
    finally:
        monkeypatch.delenv("REGTUI_SECRET_KEY_FILE")
    assert invitations.link(Invitation.get_by_id(inv.id)) == link_a


def test_another_os_user_without_the_key_is_refused_not_given_a_new_key(admin, tmp_path, monkeypatch):
    """A second OS user (another data folder) used to get a silent new key, and its emailed links
    answered 404 on the server. Now only `regtui init` makes a key; a missing one is refused."""
    pool, _ = _invite(admin)
    other = tmp_path / "other-home"
    monkeypatch.setenv("REGTUI_HOME", str(other))
    before = dump()
    with pytest.raises(UsageError, match="no secret key at .*regtui init"):
        invitations.invite(admin, pool, ["late@example.com"])
    assert not (other / "secret.key").exists()
    assert dump() == before


@pytest.mark.parametrize("state", ["empty", "short", "unreadable", "folder"])
def test_a_broken_key_is_refused_in_one_sentence(admin, tmp_path, monkeypatch, state):
    pool, _ = _invite(admin)
    key = tmp_path / "bad.key"
    if state == "folder":
        key.mkdir()
    else:
        key.write_text({"empty": "", "short": "abc\n"}.get(state, "0" * 64))
    if state == "unreadable":
        key.chmod(0)
        if os.access(key, os.R_OK):
            pytest.skip("running as root: every file is readable")
    monkeypatch.setenv("REGTUI_SECRET_KEY_FILE", str(key))
    before = dump()
    with pytest.raises(UsageError) as err:
        invitations.invite(admin, pool, ["late@example.com"])
    message = str(err.value)
    assert str(key) in message and message.count(". ") == 0 and message.endswith(".")
    assert dump() == before
    if state in ("empty", "short"):
        with pytest.raises(UsageError):  # init does not paper over it with a new key either
            tokens.create_key(key)
        assert len(key.read_text().strip()) < 32


def test_120_concurrent_first_key_makers_agree_on_one_key(tmp_path):
    key = tmp_path / "data" / "secret.key"
    start = threading.Barrier(120)
    results, errors = [], []

    def make():
        start.wait()
        try:
            results.append(tokens.create_key(key))
            results.append(tokens._key_at.__wrapped__(str(key)))
        except Exception as exc:  # noqa: BLE001 - any error is the failure being tested
            errors.append(exc)
    workers = [threading.Thread(target=make) for _ in range(120)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert results.count(True) == 1  # exactly one maker made it
    keys = {r for r in results if isinstance(r, bytes)}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in key.parent.iterdir()] == ["secret.key"]  # no temporary files left


@pytest.mark.parametrize("mangle", ["tamper-mac", "tamper-id", "truncate", "empty", "garbage", "no-dot"])
def test_tampered_or_truncated_claim_links_are_refused(admin, mangle):
    pool, [inv, other] = _invite(admin, 2)
    tok = claim_token(invitations.link(inv))
    head, _, mac = tok.partition(".")
    bad = {
        "tamper-mac": f"{head}.{mac[:10]}{'A' if mac[10] != 'A' else 'B'}{mac[11:]}",
        "tamper-id": f"{other.id}.{mac}",
        "truncate": tok[:-1],
        "empty": "",
        "garbage": "../../etc/passwd",
        "no-dot": head + mac,
    }[mangle]
    before = dump()
    with pytest.raises(Refused) as err:
        invitations.accept(bad, "A", "B", password=PW)
    assert err.value.code == "bad-link"
    assert dump() == before
    invitations.accept(tok, "A", "B", password=PW)  # the real one still works
    check(pool)


def test_claim_link_is_single_use_and_ends_with_its_invitation(admin):
    pool, [inv, cancelled, late] = _invite(admin, 3)
    tok = claim_token(invitations.link(inv))
    invitations.accept(tok, "First", "Last", password=PW)
    invitations.cancel(admin, cancelled)
    Invitation.update(expires_at=dt.datetime(2020, 1, 1)).where(Invitation.id == late.id).execute()
    before = dump()
    for token, code in ((tok, "accepted"), (claim_token(invitations.link(cancelled)), "cancelled"),
                        (claim_token(invitations.link(late)), "expired")):
        with pytest.raises(Refused) as err:
            invitations.accept(token, "Other", "Person", password=PW)
        assert err.value.code == code
        assert str(err.value).endswith(".")
    assert dump() == before
    assert check(pool) == {"available": 3, "invited": 1, "claimed": 1}


def test_set_password_link_is_single_use_and_expires(admin):
    pool = make_pool(admin, 3)
    registrations.assign(admin, pool, [LearnerSpec("a@example.com"), LearnerSpec("b@example.com")])
    tok_a = set_password_token(mails("a@example.com")[0].body)
    tok_b = set_password_token(mails("b@example.com")[0].body)
    head, _, mac = tok_a.partition(".")
    for bad in (tok_a[:-2], f"{head}.{mac[::-1]}", f"{tok_b.partition('.')[0]}.{mac}", "x"):
        with pytest.raises(Refused) as err:
            learners.set_password(bad, "whatever-123")
        assert err.value.code == "bad-link"
    learner = learners.set_password(tok_a, "first choice")
    assert not learner.must_set_password
    stored = learner.password_hash
    before = dump()
    with pytest.raises(Refused) as err:
        learners.set_password(tok_a, "second choice")
    assert err.value.code == "used-link"
    assert dump() == before
    assert Learner.get_by_id(learner.id).password_hash == stored
    # an expired link is refused too
    Learner.update(password_link_expires_at=dt.datetime(2020, 1, 1)).where(Learner.password_link_used_at.is_null()).execute()
    with pytest.raises(Refused) as err:
        learners.set_password(tok_b, "too late now")
    assert err.value.code == "expired-link"
    assert Learner.get(Learner.email_key == "b@example.com").password_hash is None


def test_a_claim_link_is_not_a_set_password_link(admin):
    """The purpose is part of the MAC: a token for one page does not open the other."""
    pool, [inv] = _invite(admin)
    registrations.assign(admin, pool, [LearnerSpec("c@example.com")])
    claim = claim_token(invitations.link(inv))
    learner = Learner.get(Learner.email_key == "c@example.com")
    nonce = learner.password_link_nonce
    forged = f"{learner.id}.{claim.partition('.')[2]}"
    with pytest.raises(Refused):
        learners.set_password(forged, "whatever-123")
    assert tokens.matches(tokens.make("set-password", learner.id, nonce), "set-password", learner.id, nonce)
    assert not tokens.matches(tokens.make("invitation", learner.id, nonce), "set-password", learner.id, nonce)
