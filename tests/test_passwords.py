"""The password rule (NIST SP 800-63B): one function, used by the claim and set-password pages,
the CLI and rosters; hostile passwords are refused in one sentence and nothing is stored."""

from __future__ import annotations

import pytest

from regtui.core.errors import Refused
from regtui.core.models import Learner
from regtui.core.services import passwords
from test_core_support import dump, make_pool

GOOD = "correct horse battery"


@pytest.mark.parametrize("password, sentence", [
    (" " * 8, "only spaces"),
    ("\u3000" * 8, "only spaces"),  # ideographic spaces: NFKC makes them plain spaces
    ("\x00" * 8, "control characters"),
    ("password", "most common passwords"),
    ("PassWord", "most common passwords"),
    ("ｐａｓｓｗｏｒｄ", "most common passwords"),  # fullwidth letters are the same password after NFKC
    ("12345678", "most common passwords"),
    ("iloveyou", "most common passwords"),
    ("correct\thorse battery", "control characters"),
    ("correct horse\nbattery", "control characters"),
    ("correct horse battery\x1b[2J", "control characters"),
    ("correct\u2028horse", "control characters"),
    ("short", "at least 8 characters"),
    ("", "at least 8 characters"),
    ("x" * 1025, "at most 1024 characters"),
])
def test_weak_passwords_are_refused_with_a_sentence(password, sentence):
    with pytest.raises(Refused, match=sentence) as refused:
        passwords.check_strength(password)
    assert refused.value.code == "weak-password"
    with pytest.raises(Refused):
        passwords.hash_password(password)  # no path can hash around the rule


@pytest.mark.parametrize("password", [GOOD, "Tr0ub4dor&3x", "x" * 64, "é" * 8, "пароль-для-курса", "x" * 1024,
                                      "  leading and trailing spaces  "])
def test_good_passwords_pass(password):
    passwords.check_strength(password)


def test_length_is_counted_after_nfkc():
    passwords.check_strength("\ufb00" * 4 + "zq")  # 'ﬀ' is 'ff': 10 characters once normalised, 6 as typed
    with pytest.raises(Refused, match="at least"):
        passwords.check_strength("e\u0301" * 3 + "zq")  # 'é' decomposed: 8 code points, 5 characters


def test_the_account_own_words_are_refused():
    with pytest.raises(Refused, match="email address or your name"):
        passwords.check_strength("Ada@Example.com", avoid=["ada@example.com", "Ada"])
    passwords.check_strength(GOOD, avoid=["ada@example.com"])


def test_the_blocklist_is_the_shipped_list():
    common = passwords._common()
    assert len(common) == 19640
    assert {"123456", "qwerty", "password", "letmein"} <= common


def test_composed_and_decomposed_accents_are_one_password():
    hashed = passwords.hash_password("café crème brûlée")
    assert passwords.verify(hashed, "cafe\u0301 cre\u0300me bru\u0302le\u0301e")
    assert not passwords.verify(hashed, "cafe creme brulee")
    assert passwords.verify(passwords._hasher.hash("e\u0301" * 9), "e\u0301" * 9)  # a hash made before NFKC


def test_form_choice_needs_the_same_password_twice():
    for password, confirm, code in (("", "", "missing-password"), (GOOD, GOOD + "!", "passwords-differ"),
                                    (" " * 8, " " * 8, "weak-password")):
        with pytest.raises(Refused) as refused:
            passwords.check_choice(password, confirm)
        assert refused.value.code == code
    passwords.check_choice(GOOD, GOOD)


@pytest.mark.storage
@pytest.mark.parametrize("password", [" " * 8, "\x00" * 8, "password", "pass\tword-long"])
def test_the_cli_refuses_a_weak_password_and_changes_nothing(cli, admin, password):
    pool = make_pool(admin, 3)
    before = dump()
    proc = cli("assign", str(pool.id), "ada@example.com", "--first", "Ada", "--last", "L", "--password-stdin",
               input=password + "\n")
    assert proc.returncode == 1, proc.stderr
    assert "password" in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert dump() == before
    proc = cli("assign", str(pool.id), "ada@example.com", "--first", "Ada", "--last", "L", "--password-stdin",
               input=GOOD + "\n")
    assert proc.returncode == 0, proc.stderr
    assert passwords.verify(Learner.get(Learner.email_key == "ada@example.com").password_hash, GOOD)
