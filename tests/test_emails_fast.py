"""The fast email path gives exactly email-validator's verdict and normal form.

A property test over generated addresses, including the tricky kinds (dots at the ends,
consecutive dots, quoted local parts, unicode, IP literals, long labels, trailing-dot domains,
upper case, hyphens at label ends, numeric TLDs, Punycode, special-use names)."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from regtui.core import emailcheck as em
from regtui.core.emailcheck import VALIDATOR_OPTIONS, check_email, check_emails_fast, email_key, normalize_email


def reference(addr: str) -> str | None:
    try:
        return validate_email(addr, **VALIDATOR_OPTIONS).normalized
    except EmailNotValidError:
        return None


ATEXT = "abcxyzABCXYZ0189!#$%&'*+/=?^_`{|}~-"
local_plain = st.text(alphabet=ATEXT, min_size=1, max_size=12)
local_part = st.one_of(
    st.lists(local_plain, min_size=1, max_size=4).map(".".join),  # dot-atom
    st.builds(lambda a, b: a + b, st.sampled_from([".", "..", ""]), local_plain),  # leading dots
    st.builds(lambda a, b: a + b, local_plain, st.sampled_from([".", "..", ""])),  # trailing dots
    st.builds(lambda a, b: a + ".." + b, local_plain, local_plain),
    st.builds(lambda s: '"' + s + '"', st.text(alphabet=ATEXT + ' @."\\', max_size=8)),  # quoted
    st.sampled_from(["Info", "SALES", "postmaster", "WebMaster", "abuse", "noc"]),  # RFC 2142 roles
    st.text(alphabet="éüøß漢字ÄÖ" + ATEXT, min_size=1, max_size=8),  # unicode
    st.text(min_size=0, max_size=6),  # anything
    st.just("a" * 64), st.just("b" * 65), st.just("c" * 250),
)
label_chars = "abcxyzABCXYZ0189-"
label = st.one_of(
    st.text(alphabet=label_chars, min_size=1, max_size=10),
    st.builds(lambda s: "-" + s, st.text(alphabet="abc1", min_size=1, max_size=5)),
    st.builds(lambda s: s + "-", st.text(alphabet="abc1", min_size=1, max_size=5)),
    st.builds(lambda s: s[:2] + "--" + s[2:], st.text(alphabet="abcd", min_size=2, max_size=6)),
    st.sampled_from(["xn--bcher-kva", "xn--invalid-", "XN--BCHER-KVA", "xn--80ak6aa92e"]),
    st.text(alphabet="abc", min_size=60, max_size=70),  # long labels around 63
    st.text(alphabet="bücherñ日本", min_size=1, max_size=6),  # unicode labels
    st.text(alphabet="0123456789", min_size=1, max_size=3),
)
tld = st.one_of(
    st.sampled_from(["com", "ORG", "Net", "museum", "c0m", "1", "123", "a1", "1a", "test", "localhost",
                     "invalid", "local", "onion", "arpa", "example", "XN--P1AI", "co", "c-m", "-com", "com-"]),
    label,
)
domain = st.one_of(
    st.builds(lambda labels, t: ".".join(labels + [t]), st.lists(label, min_size=0, max_size=4), tld),
    st.builds(lambda d: d + ".", st.sampled_from(["example.com", "Example.ORG"])),  # trailing dot
    st.builds(lambda d: "." + d, st.sampled_from(["example.com"])),
    st.sampled_from(["[127.0.0.1]", "[IPv6:::1]", "[300.1.1.1]", "example..com", "", "a" * 250 + ".com",
                     ".".join(["abcdefghij"] * 26) + ".com"]),
)
address = st.one_of(
    st.builds(lambda l, d: l + "@" + d, local_part, domain),
    st.emails(),
    st.builds(lambda l, d: l + "@@" + d, local_part, domain),
    st.text(max_size=20),
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(address)
@example("Bob@Example.COM")
@example("a..b@example.com")
@example(".a@example.com")
@example("a.@example.com")
@example('"john doe"@example.com')
@example("user@[192.168.0.1]")
@example("user@example.com.")
@example("user@-example.com")
@example("user@example-.com")
@example("user@example.123")
@example("user@ab--cd.com")
@example("user@xn--bcher-kva.ch")
@example("josé@example.com")
@example("INFO@example.com")
@example("a@" + "b" * 63 + ".com")
@example("a@" + "b" * 64 + ".com")
@example("Info@0." + "a" * 64)  # a last label of 64: too long (found by this test)
@example("a@b." + "c" * 63)
@example("x" * 245 + "@example.com")
@example("user@sub.example.test")
def test_fast_path_agrees_with_email_validator(addr):
    expected = reference(addr)
    fast = em._fast(addr)
    if fast is not None:  # whatever the fast path vouches for, email-validator agrees exactly
        assert fast == expected
    got = check_email(addr)
    assert (got.normalized if got.ok else None) == expected
    if got.ok:
        assert got.key == expected.lower() and got.reason is None
        assert normalize_email(addr) == expected and email_key(addr) == expected.lower()
    else:
        assert got.reason and got.key is None
        with pytest.raises(EmailNotValidError):
            normalize_email(addr)
    assert check_emails_fast([addr])[addr] == tuple(got)


@settings(max_examples=200, deadline=None)
@given(st.lists(address, max_size=30))
def test_batch_equals_one_by_one(addrs):
    batch = check_emails_fast(addrs)
    assert set(batch) == set(addrs)
    for a in addrs:
        assert batch[a] == tuple(check_email(a))


def test_plain_addresses_never_reach_email_validator(monkeypatch):
    calls = []
    real = em.validate_email
    monkeypatch.setattr(em, "validate_email", lambda *a, **k: calls.append(a) or real(*a, **k))
    addrs = [f"First.Last+{i}@Sub{i % 9}.Example.COM" for i in range(1000)]
    out = check_emails_fast(addrs)
    assert calls == []
    assert out[addrs[1]] == ("First.Last+1@sub1.example.com", "first.last+1@sub1.example.com", None)
    check_emails_fast(["bad@@example.com"])
    assert len(calls) == 1


def test_module_settings_elsewhere_do_not_change_the_verdict(monkeypatch):
    import email_validator

    monkeypatch.setattr(email_validator, "TEST_ENVIRONMENT", True)
    assert not check_email("someone@example.test").ok


def test_a_hundred_thousand_plain_addresses_stay_on_the_fast_path(monkeypatch):
    """A big roster's addresses never reach email-validator one by one (the speed itself is
    measured in bench/, not here)."""
    calls = []
    real = em.validate_email
    monkeypatch.setattr(em, "validate_email", lambda *a, **k: calls.append(a) or real(*a, **k))
    addrs = [f"user{i}.{i * 7919 % 100003}@example{i % 50}.com" for i in range(100_000)]
    addrs[::1000] = [a.upper() for a in addrs[::1000]]
    out = check_emails_fast(addrs)
    assert calls == []
    assert len(out) == 100_000 and all(v[2] is None for v in out.values())
    assert out[addrs[1000]][1] == addrs[1000].lower()
