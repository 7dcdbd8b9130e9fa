"""Editable email templates, rendered with ``string.Template`` placeholders ($name)."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from regtui.core.errors import NotFound, UsageError
from regtui.core.models import EmailTemplate, database, utcnow
from regtui.core.services import audit
from regtui.core.services.permissions import Actor, require

INVITATION = "RegCodeEmailText"
CONFIRMATION = "RegCodeConfirmationText"
SET_PASSWORD = "SetPasswordText"
INVITATION_WITHDRAWN = "InvitationWithdrawnText"
ACCESS_REMOVED = "AccessRemovedText"
PASSWORD_RESET = "PasswordResetText"
ACCESS_ENDS = "AccessEndsText"
UNCLAIMED = "UnclaimedInvitationsText"

DEFAULTS: dict[str, tuple[str, str]] = {
    INVITATION: (
        "You are invited to $session",
        "Hello,\n\n$customer has a seat for you in $product ($session).\n"
        "$message\n"
        "Claim it here (the link works once, until $expires):\n$link\n\n"
        "If someone else claims the seat first, this link stops working.\n",
    ),
    CONFIRMATION: (
        "Your seat in $session is ready",
        "Hello $first_name,\n\nYou now have access to $product ($session) "
        "from $access_start until $access_end.\nYour registration code is $code.\n"
        "$set_password\n"
        "Sign in at $signin with $email to see your trainings and open the course.\n",
    ),
    PASSWORD_RESET: (
        "Choose a new password",
        "Hello $first_name,\n\nSomeone (we hope you) asked for a new password for $email.\n"
        "Choose it here (the link works once, until $expires):\n$link\n\n"
        "If you did not ask, ignore this email: your password stays as it is.\n",
    ),
    SET_PASSWORD: (
        "Set your password",
        "Hello $first_name,\n\nAn account was created for you ($email).\n"
        "Choose your password here (the link works once, until $expires):\n$link\n",
    ),
    # sent instead of nothing when an invitation is cancelled or replaced after its email went out
    INVITATION_WITHDRAWN: (
        "Your invitation to $session was withdrawn",
        "Hello,\n\nThe invitation to $product ($session) that $customer sent you on $sent was withdrawn,\n"
        "so its link no longer works. If you think this is a mistake, please ask $customer.\n",
    ),
    # sent when a seat is removed after its confirmation went out
    ACCESS_REMOVED: (
        "Your access to $session was removed",
        "Hello $first_name,\n\n$customer removed your seat in $product ($session);\n"
        "your access to it ended on $ended. If you think this is a mistake, please ask $customer.\n",
    ),
    ACCESS_ENDS: (
        "Your access to $session ends $when",
        "Hello $first_name,\n\nYour access to $product ($session) ends on $access_end, $when.\n"
        "If you need longer, ask the person who gave you the seat.\n",
    ),
    UNCLAIMED: (
        "Unclaimed invitations: $count",
        "Hello,\n\nInvitations to seats of $customer that nobody has claimed yet: $count.\n$pools\n"
        "Resend them, or give the seats to someone else; an invitation expires 14 days after it was sent.\n",
    ),
}


@dataclass(frozen=True)
class Placeholder:
    """A ``$name`` a template may use: what it stands for, and whether the template must hold it."""

    name: str
    meaning: str
    required: bool = False


def _known(*items: tuple[str, str] | tuple[str, str, bool]) -> tuple[Placeholder, ...]:
    return tuple(Placeholder(*item) for item in items)


# The placeholders each template is rendered with (what its senders pass), the required ones
# first. Saving a template refuses one without its required placeholders, or with any other
# name: it would be sent as typed. A template added to DEFAULTS declares its own here.
PLACEHOLDERS: dict[str, tuple[Placeholder, ...]] = {
    INVITATION: _known(
        ("link", "the claim link: without it the invitation cannot be accepted", True),
        ("email", "the invitee's address"), ("customer", "the customer who bought the seat"),
        ("product", "the product's name"), ("session", "the session's name"),
        ("message", "the sender's extra text (may be empty)"), ("expires", "the day the link stops working"),
    ),
    CONFIRMATION: _known(
        ("set_password", "the sentence with the set-password link that an account with no password needs", True),
        ("first_name", "the learner's first name (may be empty)"), ("last_name", "the learner's last name (may be empty)"),
        ("email", "the learner's address"), ("product", "the product's name"), ("session", "the session's name"),
        ("code", "the registration code"), ("access_start", "the first day of access"),
        ("access_end", "the last day of access, or open-ended"),
        ("signin", "the portal's sign-in page, where the learner sees their trainings"),
    ),
    PASSWORD_RESET: _known(
        ("link", "the link to choose a new password: without it the email is useless", True),
        ("first_name", "the learner's first name (may be empty)"), ("last_name", "the learner's last name (may be empty)"),
        ("email", "the learner's address"), ("expires", "the day the link stops working"),
    ),
    INVITATION_WITHDRAWN: _known(
        ("email", "the invitee's address"), ("customer", "the customer who had sent the invitation"),
        ("product", "the product's name"), ("session", "the session's name"), ("sent", "the day the invitation was sent"),
    ),
    ACCESS_REMOVED: _known(
        ("first_name", "the learner's first name (may be empty)"), ("last_name", "the learner's last name (may be empty)"),
        ("email", "the learner's address"), ("customer", "the customer who removed the seat"),
        ("product", "the product's name"), ("session", "the session's name"), ("code", "the registration code"),
        ("ended", "the day the access ended"),
    ),
    SET_PASSWORD: _known(
        ("link", "the set-password link: without it no password can be set", True),
        ("first_name", "the learner's first name (may be empty)"), ("last_name", "the learner's last name (may be empty)"),
        ("email", "the learner's address"), ("expires", "the day the link stops working"),
    ),
    ACCESS_ENDS: _known(
        ("access_end", "the last day of access", True),
        ("first_name", "the learner's first name (may be empty)"), ("last_name", "the learner's last name (may be empty)"),
        ("email", "the learner's address"), ("product", "the product's name"), ("session", "the session's name"),
        ("days", "how many days are left (a number)"), ("when", "the same in words: today, tomorrow, in 3 days"),
    ),
    UNCLAIMED: _known(
        ("count", "how many invitations of the customer are not claimed yet", True),
        ("customer", "the customer's name"), ("email", "the customer's contact address"),
        ("pools", "one line per pool: session, order, pool, how many, the first sent"),
    ),
}

# a name that may be empty takes the space before it along: "Hello $first_name," reads
# "Hello," for a learner with no first name, never "Hello ,"
SPACED = frozenset({"first_name", "last_name"})


def placeholders(name: str) -> tuple[Placeholder, ...]:
    """The placeholders template ``name`` knows, required ones first (for editors and help)."""
    if name not in PLACEHOLDERS and name not in DEFAULTS:
        raise NotFound(f"There is no email template called {name!r}.")
    return PLACEHOLDERS.get(name, ())


SAMPLE_VALUES = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "customer": "Analytical Engines Ltd",
    "product": "Python for Data Teams",
    "session": "PY-2027-03 (March 2027)",
    "message": "Please finish the pre-reading before day one.",
    "link": "http://127.0.0.1:8080/claim/42.sample-token",
    "expires": "2027-03-14",
    "code": "K7QM-3XPA",
    "access_start": "2027-03-01",
    "access_end": "2027-06-01",
    "set_password": "Set your password here: http://127.0.0.1:8080/set-password/7.sample-token",
    "sent": "2027-02-14",
    "ended": "2027-03-02",
    "days": "3",
    "when": "in 3 days",
    "count": "4",
    "pools": "- PY-2027-03 (order 1001, pool 8): 4 unclaimed, the first sent 2027-02-20",
}


def seed() -> int:
    """Insert any default template that is missing; edited ones are left alone."""
    added = 0
    for name, (subject, body) in DEFAULTS.items():
        _, created = EmailTemplate.get_or_create(name=name, defaults={"subject": subject, "body": body})
        added += int(created)
    return added


def get(name: str) -> EmailTemplate:
    row = EmailTemplate.get_or_none(EmailTemplate.name == name)
    if row is None:
        if name in DEFAULTS:
            subject, body = DEFAULTS[name]
            return EmailTemplate(name=name, subject=subject, body=body)
        raise NotFound(f"There is no email template called {name!r}.")
    return row


def list_templates() -> list[EmailTemplate]:
    return list(EmailTemplate.select().order_by(EmailTemplate.name))


def render_text(text: str, values: dict) -> str:
    """``text`` with its placeholders filled from ``values``; unknown ones stay as typed."""
    return _fill(_compile(text), values)


def render(name: str, values: dict) -> tuple[str, str]:
    """(subject, body) of template ``name`` filled with ``values``; unknown $names stay as typed."""
    row = get(name)
    return render_text(row.subject, values).replace("\n", " "), render_text(row.body, values)


def renderer(name: str):
    """A function values -> (subject, body) for template ``name``, read once and compiled into
    literal and placeholder parts, so each email is one join (bulk emails). Same result as
    ``string.Template.safe_substitute``: unknown or broken placeholders stay as typed."""
    row = get(name)
    subject, body = _compile(row.subject), _compile(row.body)

    def render(values: dict) -> tuple[str, str]:
        return _fill(subject, values).replace("\n", " "), _fill(body, values)
    return render


def sql_renderer(name: str):
    """Template ``name`` as SQL, for emails rendered by the database in an INSERT ... SELECT (a
    batch's confirmations). Returns ``fill(columns, constants)`` -> (subject SQL, its parameters,
    body SQL, its parameters): a placeholder named in ``columns`` becomes that SQL expression (of
    text; NULL counts as empty), one in ``constants`` a bound value, any other stays as typed,
    exactly as ``renderer`` does; literal text is always bound, never spliced into the SQL."""
    from regtui.core.bulk import param

    row = get(name)
    subject, body = _compile(row.subject), _compile(row.body)
    mark = param()

    def sql(parts, columns: dict[str, str], constants: dict) -> tuple[str, list]:
        pieces, params = [], []
        for typed, placeholder, lead in parts:
            if placeholder in columns:
                value = f"COALESCE({columns[placeholder]}, '')"
                pieces.append(f"CASE WHEN {value} = '' THEN '' ELSE '{lead}' || {value} END" if lead else value)
                continue
            if placeholder in constants:
                value = constants[placeholder]
                typed = "" if value is None or value == "" else lead + str(value)
            elif placeholder is not None:
                typed = lead + typed
            if pieces and pieces[-1] == mark:  # text next to text: one parameter (SQL nests each ||)
                params[-1] += typed
            else:
                pieces.append(mark)
                params.append(typed)
        return " || ".join(pieces) or "''", params

    def fill(columns: dict[str, str], constants: dict) -> tuple[str, list, str, list]:
        subject_sql, subject_params = sql(subject, columns, constants)
        body_sql, body_params = sql(body, columns, constants)
        return f"REPLACE({subject_sql}, {mark}, ' ')", [*subject_params, "\n"], body_sql, body_params
    return fill


def _compile(text: str) -> list[tuple[str, str | None, str]]:
    """``text`` as (literal, None, "") and (as typed, placeholder name, lead) parts. A name in
    ``SPACED`` right after a space takes that space as its ``lead``: it is written only when the
    name is not empty."""
    parts: list[tuple[str, str | None, str]] = []
    last = 0
    for m in Template.pattern.finditer(text):
        literal = text[last:m.start()]
        named = m.group("named") or m.group("braced")
        lead = " " if named in SPACED and literal.endswith(" ") else ""
        literal = literal[:-1] if lead else literal
        if literal:
            parts.append((literal, None, ""))
        if named:
            parts.append((m.group(), named, lead))
        elif m.group("escaped") is not None:
            parts.append(("$", None, ""))
        else:  # an invalid placeholder stays as typed
            parts.append((m.group(), None, ""))
        last = m.end()
    if last < len(text):
        parts.append((text[last:], None, ""))
    return parts


def _fill(parts: list[tuple[str, str | None, str]], values: dict) -> str:
    out = []
    for typed, name, lead in parts:
        if name is None:
            out.append(typed)
        elif name in values:
            value = values[name]
            out.append("" if value is None or value == "" else lead + str(value))
        else:
            out.append(lead + typed)
    return "".join(out)


def preview(subject: str, body: str) -> tuple[str, str]:
    return render_text(subject, SAMPLE_VALUES), render_text(body, SAMPLE_VALUES)


def check(subject: str, body: str, name: str | None = None) -> None:
    """Refuse, in one sentence, a template that could not be sent as meant: a subject of more
    than one line (a header cannot hold a line break), a broken placeholder, and, for a template
    ``name`` that declares its placeholders, a missing required one or one it does not know."""
    if any(ch in subject for ch in "\r\n\x00") or any(ch in subject for ch in ("\u2028", "\u2029", "\x85")):
        raise UsageError("The subject must be one line: it holds a line break.")
    for text in (subject, body):
        try:
            Template(text).substitute({k: "" for k in _placeholders(text)})
        except ValueError as exc:
            raise UsageError(f"The template has a broken placeholder: {exc}.") from None
    declared = PLACEHOLDERS.get(name) if name else None
    if not declared:
        return
    used = _placeholders(subject) | _placeholders(body)
    known = [p.name for p in declared]
    unknown = sorted(used - set(known))
    if unknown:
        raise UsageError(f"{name} does not know {_names(unknown)}: it can use {_names(known)}.")
    missing = [p.name for p in declared if p.required and p.name not in used]
    if missing:
        raise UsageError(f"{name} must contain " + " and ".join(f"${p.name}, {p.meaning}" for p in declared if p.name in missing) + ".")


def _names(names) -> str:
    return ", ".join(f"${n}" for n in names)


def _placeholders(text: str) -> set[str]:
    return {m.group("named") or m.group("braced") for m in Template.pattern.finditer(text) if m.group("named") or m.group("braced")}


def save(actor: Actor, name: str, subject: str, body: str) -> EmailTemplate:
    require(actor, "templates.edit")
    check(subject, body, name)
    with database.atomic():
        row = EmailTemplate.get_or_none(EmailTemplate.name == name)
        before = {"subject": row.subject, "body": row.body} if row else None
        if row is None:
            row = EmailTemplate.create(name=name, subject=subject, body=body)
        else:
            row.subject, row.body, row.updated_at = subject, body, utcnow()
            row.save()
        audit.record(actor, "template.save", row, before=before, after={"subject": subject, "body": body})
    return row
