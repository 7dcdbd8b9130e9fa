"""Email address checks for rosters and for the services: each distinct address once, plain ones on a fast path.

The verdict and the normalised form are exactly email-validator's
(``validate_email(addr, check_deliverability=False)`` with the options pinned in
``VALIDATOR_OPTIONS``): a strict regular expression accepts the plain ASCII addresses that
email-validator would accept and whose normal form we can compute ourselves (the domain
lower-cased; RFC 2142 role mailboxes such as ``Info@`` lower-cased too); everything else,
valid or not, goes to email-validator itself. ``tests/test_emails_fast.py`` checks the
equivalence with a property test.

The identity key of an address (who the learner is) is the normalised address lower-cased.
"""

from __future__ import annotations

import re
from functools import lru_cache
from operator import itemgetter
from typing import Iterable, NamedTuple, Sequence

from regtui.core.emailrules import VALIDATOR_OPTIONS

# email-validator is imported on first use (the slow path): its import compiles a few dozen
# regular expressions, a visible share of a roster plan's start-up. The two lists the fast path
# needs are copied here; tests/test_batch_emails_constants.py checks they match the library.

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# local part: dot-atom; domain: two or more LDH labels of 1-63 characters, the last one
# ending with a letter (email-validator: "all TLDs currently end with a letter").
_FAST = re.compile(
    rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@((?:{_LABEL}\.)+(?:[A-Za-z0-9][A-Za-z0-9-]{{0,61}})?[A-Za-z])"
)
# email_validator.SPECIAL_USE_DOMAIN_NAMES (single labels: the last label is compared)
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
# email_validator.rfc_constants.CASE_INSENSITIVE_MAILBOX_NAMES (RFC 2142 role mailboxes)
_ROLE_NAMES = frozenset({"info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster",
                         "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp"})


class EmailCheck(NamedTuple):
    """The verdict on one address: ``normalized`` and ``key`` when valid, else ``reason``."""

    normalized: str | None
    key: str | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.reason is None


def _fast(addr: str) -> str | None:
    """The normalised form if the fast path can vouch for ``addr``, else None (ask email-validator)."""
    m = _FAST.fullmatch(addr)
    if m is None or len(addr) > 254:
        return None
    domain = m.group(1)
    # "--" covers Punycode labels (xn--) and RFC 5890 R-LDH labels: email-validator decides.
    if len(domain) > 253 or "--" in domain:
        return None
    domain = domain.lower()
    if domain[domain.rfind(".") + 1:] in _SPECIAL_USE:
        return None
    local = addr[: m.start(1) - 1]
    if local.lower() in _ROLE_NAMES:
        local = local.lower()
    return local + "@" + domain


def validate_email(addr: str, **options):
    """``email_validator.validate_email``, imported on first use."""
    from email_validator import validate_email as validate

    return validate(addr, **options)


def reason(addr: str, err: Exception) -> str:
    """A short reason for a HR person, to go in parentheses after the address."""
    if "@" not in addr:
        return "there is no @"
    if addr.count("@") > 1 and '"' not in addr:
        return "there is more than one @"
    if any(c.isspace() for c in addr):
        return "it contains a space"
    text = re.sub(r"\. (\w)", lambda m: "; " + m.group(1).lower(), str(err).strip().rstrip("."))
    return text[:1].lower() + text[1:]


def check_email(addr: str) -> EmailCheck:
    """Check one address (already trimmed)."""
    normalized = _fast(addr)
    if normalized is None:
        from email_validator import EmailNotValidError

        try:
            normalized = validate_email(addr, **VALIDATOR_OPTIONS).normalized
        except EmailNotValidError as err:
            return EmailCheck(None, None, reason(addr, err))
    return EmailCheck(normalized, normalized.lower(), None)


# The fast path over many addresses at once: one line per address, and a regex that matches
# every line, capturing local part and domain when the line is a plain address.
# Labels are only checked for characters and length here; hyphens at label ends and the
# last character being a letter are checked on the joined domains (same rules as _FAST).
_FAST_LINES = re.compile(
    rf"^(?:([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@([A-Za-z0-9-]{{1,63}}(?:\.[A-Za-z0-9-]{{1,63}})+)|.*)$",
    re.MULTILINE,
)


def check_emails_fast(addrs: Iterable[str]) -> dict[str, tuple[str | None, str | None, str | None]]:
    """``check_email`` for many addresses, as plain tuples (normalized, key, reason): the roster hot path.

    The plain addresses are handled in bulk with C-level string operations (one regex pass
    over all of them joined by newlines, lower-casing joined text); the others one by one.
    """
    distinct = list(dict.fromkeys(addrs))
    out: dict[str, tuple[str | None, str | None, str | None]] = {}
    if not distinct:
        return out
    text = "\n".join(distinct)
    pairs = _FAST_LINES.findall(text) if text.count("\n") == len(distinct) - 1 and "\r" not in text else []
    if len(pairs) != len(distinct):  # an address with a line break in it: one by one
        for addr in distinct:
            out[addr] = tuple(check_email(addr))  # type: ignore[assignment]
        return out
    locals_ = [p[0] for p in pairs]
    domains = "\n".join([p[1] for p in pairs]).lower().split("\n")
    # The domain rules are checked once per distinct domain (a roster has few), the rest with
    # C-level scans of whole columns; only the flagged addresses go one by one.
    special = _SPECIAL_USE
    bad_domains = {
        domain for domain in set(domains)
        if len(domain) > 253 or "--" in domain or not domain or not domain[-1].isalpha() or domain[0] == "-"
        or ".-" in domain or "-." in domain or domain[domain.rfind(".") + 1:] in special
    }
    slow: set[int] = set()
    if bad_domains:
        slow.update(i for i, domain in enumerate(domains) if domain in bad_domains)
    if "" in locals_:
        slow.update(i for i, local in enumerate(locals_) if not local)
    if max(map(len, distinct)) > 254:
        slow.update(i for i, addr in enumerate(distinct) if len(addr) > 254)
    lowered_locals = "\n".join(locals_).lower().split("\n")
    roles = _ROLE_NAMES.intersection(lowered_locals)
    if roles:
        for i, low in enumerate(lowered_locals):
            if low in roles:
                locals_[i] = low
    normalized = list(map("{}@{}".format, locals_, domains))
    keys = "\n".join(normalized).lower().split("\n")
    out = dict(zip(distinct, zip(normalized, keys, [None] * len(distinct))))
    for i in slow:
        addr = distinct[i]
        out[addr] = tuple(check_email(addr))  # type: ignore[assignment]
    return out


def normalize_email(addr: str) -> str:
    """email-validator's normalised form of ``addr`` (raises EmailNotValidError if invalid)."""
    normalized = _fast(addr)
    if normalized is None:
        normalized = validate_email(addr, **VALIDATOR_OPTIONS).normalized
    return normalized


def email_key(addr: str) -> str:
    """The identity key of a (valid) address: its normalised form lower-cased."""
    return normalize_email(addr).lower()


# A plain address (same shape as _FAST_LINES's first branch) ending its line: substituting it
# away leaves nothing when every line of the joined column is one.
_PLAIN_LINE = re.compile(
    rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*@[A-Za-z0-9-]{{1,63}}(?:\.[A-Za-z0-9-]{{1,63}})+(?:\n|\Z)"
)
_DOMAINS = re.compile(r"@([^\n]*)")
_ROLE_LINE = re.compile(r"\n(?:" + "|".join(map(re.escape, sorted(_ROLE_NAMES))) + r")@")


def _bad_domain(domain: str) -> bool:
    """The fast path's domain rules (as in _fast): True if email-validator must decide."""
    return (len(domain) > 253 or "--" in domain or not domain or not domain[-1].isalpha() or domain[0] == "-"
            or ".-" in domain or "-." in domain or domain[domain.rfind(".") + 1:] in _SPECIAL_USE)


def check_email_column(addrs: list[str]) -> tuple[list, list, dict[str, str]]:
    """Check distinct, non-empty, trimmed addresses as a column: (normalized, keys, reasons).

    ``normalized[i]``/``keys[i]`` are those of ``addrs[i]`` (None when invalid); ``reasons``
    maps each invalid address to its reason. Same verdicts as ``check_emails_fast``: when
    every address is a plain one whose normal form is the address itself, all checks are a
    few C-level passes over the joined column; otherwise it defers to ``check_emails_fast``.
    """
    if not addrs:
        return [], [], {}
    text = "\n".join(addrs)
    if "\r" not in text and text.count("\n") == len(addrs) - 1 and max(map(len, addrs)) <= 254:
        rest, plain = _PLAIN_LINE.subn("", text)
        if not rest and plain == len(addrs):
            lower = text.lower()
            domains = set(_DOMAINS.findall(text))
            if (not _ROLE_LINE.search("\n" + lower) and all(d.islower() for d in domains)
                    and not any(map(_bad_domain, domains))):
                # normal form = the address (domain already lower-case, no role mailbox); key = lower-cased
                return list(addrs), (list(addrs) if lower == text else lower.split("\n")), {}
    checks = check_emails_fast(addrs)
    got = list(map(checks.__getitem__, addrs))
    reasons = {a: c[2] for a, c in zip(addrs, got) if c[2] is not None}
    return list(map(itemgetter(0), got)), list(map(itemgetter(1), got)), reasons


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def identity_keys(emails: Sequence[str]) -> list[str]:
    """The identity key of each address, derived here (a caller's key is never trusted), or
    Refused (code ``invalid-email``) naming the first address that is not valid. Addresses are
    trimmed of spaces, as the services store them: one with a line break or another control
    character is refused, so it can never reach a header of an email."""
    from regtui.core.errors import Refused

    emails = tuple(emails)
    if not all(isinstance(e, str) for e in emails):
        raise Refused("An email address is not text.", code="invalid-email")
    return list(_identity_keys(emails))


# The keys of the last addresses asked for: an apply derives them for the same 100,000 addresses
# twice, when it checks the plan and in the service that seats them (0.12 s each); the function
# is pure, so the second asks for what the first found.
@lru_cache(maxsize=2)
def _identity_keys(emails: tuple[str, ...]) -> tuple[str, ...]:
    from regtui.core.errors import Refused

    distinct = list(dict.fromkeys(emails))
    if _CONTROL.search("".join(distinct)):
        bad = next(e for e in distinct if _CONTROL.search(e))
        raise Refused(f"{bad!r} is not a valid email address (it holds a line break or a control character).",
                      code="invalid-email")
    trimmed = [e.strip() for e in distinct]
    if "" in trimmed:
        raise Refused("An email address is empty.", code="invalid-email")
    if trimmed != distinct:  # keys of the trimmed addresses, by the addresses as given
        by_given = dict(zip(distinct, _identity_keys(tuple(trimmed))))
        return tuple(by_given[e] for e in emails)
    _, keys, reasons = check_email_column(distinct)
    if reasons:
        addr, why = next(iter(reasons.items()))
        raise Refused(f"{addr!r} is not a valid email address ({why}).", code="invalid-email")
    if len(distinct) == len(emails):
        return tuple(keys)
    by_email = dict(zip(distinct, keys))
    return tuple(by_email[e] for e in emails)
