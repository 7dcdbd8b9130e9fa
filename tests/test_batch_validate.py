"""Row validation: ValidRow values, errors with stable codes and HR-readable sentences,
warnings. Pure: no database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from batch import RowError, ValidRow, read_roster
from batch.dates import parse_date
from batch.errors import RosterError
from batch.schema import header_key, load_schema, map_header

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "rosters"


def write(tmp_path, text: str, name: str = "r.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def codes(items):
    return [(e.code, e.row, e.column) for e in items]


# --------------------------------------------------------------------------- schema / header


def test_schema_is_data_with_aliases_and_action_rules():
    schema = load_schema()
    assert schema.names == ("action", "email", "first_name", "last_name", "password",
                            "access_start", "access_end", "pool", "message")
    for f in schema.fields:
        assert f.description and f.type in ("string", "date")
    assert schema.required("create") == ("email",)
    assert schema.required_any_of("extend") == (("access_end", "access_start"),)
    assert schema.field("password").only_for == ("create",)


@pytest.mark.parametrize("header,name", [
    ("E-mail Address", "email"), ("EMAIL", "email"), ("e_mail", "email"), (" Email ", "email"),
    ("First Name", "first_name"), ("Given name", "first_name"), ("Prénom", "first_name"),
    ("Surname", "last_name"), ("Family name", "last_name"), ("last-name", "last_name"),
    ("Start", "access_start"), ("End date", "access_end"), ("Expiry", "access_end"),
    ("Action", "action"), ("Notes", "message"), ("Password", "password"), ("Pool", "pool"),
])
def test_header_aliases(header, name):
    hmap, errors, warnings = map_header([header])
    assert hmap.columns == {name: 0} and not errors and not warnings


def test_header_key_ignores_case_space_punctuation_accents():
    assert header_key("E-mail  Address!") == header_key("email_address") == "emailaddress"
    assert header_key("Prénom") == "prenom"


def test_unknown_column_warns_and_duplicate_column_errors():
    hmap, errors, warnings = map_header(["Email", "Department", "E-mail"])
    assert codes(warnings) == [("unknown-column", 1, "Department")]
    assert codes(errors) == [("duplicate-column", 1, "email")]
    assert "'Email' and 'E-mail' both mean email" in errors[0].message


def test_missing_email_column_is_one_error_for_the_file(tmp_path):
    p = write(tmp_path, "action,name\n" + "create,x\n" * 500)
    roster = read_roster(p)
    assert codes(roster.errors) == [("missing-column", 1, "email")]
    assert roster.rows == ()


def test_missing_action_column_needs_a_default(tmp_path):
    p = write(tmp_path, "email\na@example.com\n")
    assert codes(read_roster(p).errors) == [("missing-column", 1, "action")]
    roster = read_roster(p, default_action="invite")
    assert roster.errors == () and roster.rows[0].action == "invite"


def test_unknown_default_action_is_refused(tmp_path):
    p = write(tmp_path, "email\na@example.com\n")
    with pytest.raises(RosterError):
        read_roster(p, default_action="explode")


def test_extend_rows_without_date_columns_one_error(tmp_path):
    p = write(tmp_path, "action,email\nextend,a@example.com\nextend,b@example.com\ncreate,c@example.com\n")
    roster = read_roster(p)
    assert codes(roster.errors) == [("missing-column", 1, "access_end")]
    assert "rows 2, 3" in roster.errors[0].message
    assert [r.email for r in roster.rows] == ["c@example.com"]


# --------------------------------------------------------------------------- the messy fixture


@pytest.mark.parametrize("name", ["messy.csv", "messy.xlsx"])
def test_messy_roster(name):
    roster = read_roster(FIX / name)
    assert codes(roster.errors) == [
        ("invalid-email", 5, "email"),
        ("ambiguous-date", 7, "access_end"),
        ("missing-value", 10, "email"),
        ("unknown-action", 11, "action"),
    ]
    bad = roster.errors[0]
    assert bad.value == "bob@@example.com"
    assert bad.message == "Row 5: 'bob@@example.com' is not a valid email address (there is more than one @)."
    amb = roster.errors[1]
    assert amb.message.startswith("Row 7: '03/04/2027' in End date could be 3 April or March 4;")
    assert codes(roster.warnings) == [("unknown-column", 1, "Department"), ("duplicate-row", 8, "email")]
    assert "the same as row 4" in roster.warnings[1].message

    ada, grace, edsger = roster.rows
    assert (ada.row, ada.action, ada.email, ada.email_key) == (2, "create", "ADA.LOVELACE@EXAMPLE.COM", "ada.lovelace@example.com")
    assert ada.email_normalized == "ADA.LOVELACE@example.com"
    assert (ada.first_name, ada.last_name) == ("Ada", "Lovelace")  # trailing/leading spaces trimmed
    assert ada.access_end == dt.date(2027, 6, 30)
    assert grace.row == 4 and grace.action == "create" and grace.access_end == dt.date(2027, 4, 13)
    assert edsger.action == "invite" and edsger.message == "Hello"
    assert roster.error_rows == {5, 7, 10, 11}
    # the raw rows are all kept for the report
    assert [r.row for r in roster.raw.rows] == [2, 4, 5, 7, 8, 9, 10, 11]
    assert roster.raw.header[1] == "E-mail Address"


def test_messy_with_date_format_settles_ambiguous_dates():
    dmy = read_roster(FIX / "messy.csv", date_format="dmy")
    assert "ambiguous-date" not in [e.code for e in dmy.errors]
    alan = next(r for r in dmy.rows if r.email.startswith("alan"))
    assert alan.access_end == dt.date(2027, 4, 3)
    mdy = read_roster(FIX / "messy.csv", date_format="mdy")
    alan = next(r for r in mdy.rows if r.email.startswith("alan"))
    assert alan.access_end == dt.date(2027, 3, 4)
    # 13/04/2027 cannot be month/day: with mdy that row is an error, not a guess
    assert ("bad-date", 4, "access_end") in codes(mdy.errors)


def test_mixed_actions():
    roster = read_roster(FIX / "mixed.csv")
    assert roster.errors == ()
    assert [r.action for r in roster.rows] == ["create", "create", "invite", "invite", "revoke", "extend", "extend", "revoke"]
    ada = roster.rows[0]
    assert ada.password == "correct horse battery" and ada.pool == "1001-1"
    assert ada.access_start == dt.date(2027, 1, 1) and ada.access_end == dt.date(2027, 12, 31)
    assert roster.rows[2].message == "Welcome to the course!"
    assert roster.rows[3].pool == "1001-2"
    # a password on a revoke row is ignored, with a warning
    assert codes(roster.warnings) == [("value-ignored", 9, "password")]
    assert roster.rows[-1].password is None
    assert roster.rows[4].first_name is None


def test_formula_without_value_is_an_error_on_that_cell():
    roster = read_roster(FIX / "formula_nocache.xlsx")
    assert codes(roster.errors) == [("formula-no-value", 3, "email"), ("formula-no-value", 4, "message")]
    assert "formula" in roster.errors[0].message and roster.errors[0].message.startswith("Row 3:")
    assert [r.email for r in roster.rows] == ["hedy@example.com"]


# --------------------------------------------------------------------------- rows


def test_valid_row_is_frozen_and_complete():
    assert ValidRow._fields[:11] == ("row", "action", "email", "email_key", "first_name", "last_name", "password",
                                     "access_start", "access_end", "pool", "message")
    roster = read_roster(FIX / "good.xlsx")
    row = roster.rows[0]
    assert type(row) is ValidRow
    with pytest.raises(AttributeError):
        row.email = "x@example.com"  # type: ignore[misc]
    assert row == row._replace() and row != row._replace(email="x@example.com")
    assert hash(row) == hash(row._replace())
    assert dataclasses.is_dataclass(RowError) and RowError.__dataclass_params__.frozen


def test_conflicting_duplicate_names_the_earlier_row(tmp_path):
    p = write(tmp_path, "action,email,first_name,pool\n"
                        "create,ann@example.com,Ann,P1\n"
                        "create,ANN@Example.com,Anne,P1\n"
                        "invite,ann@example.com,Ann,P1\n"
                        "create,ann@example.com,Ann,P2\n"
                        "create,Ann@EXAMPLE.com,Ann,P1\n")
    roster = read_roster(p)
    assert codes(roster.errors) == [("conflicting-duplicate", 3, "email"), ("conflicting-duplicate", 4, "email")]
    assert "already on row 2" in roster.errors[0].message and "first name" in roster.errors[0].message
    assert "action" in roster.errors[1].message
    # same person in another pool is fine; an exact duplicate (any case) counts once
    assert [(r.row, r.pool) for r in roster.rows] == [(2, "P1"), (5, "P2")]
    assert codes(roster.warnings) == [("duplicate-row", 6, "email")]


def test_default_pool_and_action_fill_empty_cells(tmp_path):
    p = write(tmp_path, "action,email,pool\n,a@example.com,\ninvite,b@example.com,P9\n")
    roster = read_roster(p, default_action="create", default_pool="P1")
    assert [(r.action, r.pool) for r in roster.rows] == [("create", "P1"), ("invite", "P9")]
    roster = read_roster(p)
    assert codes(roster.errors) == [("missing-value", 2, "action")]


def test_action_words_are_forgiving(tmp_path):
    p = write(tmp_path, "action,email\n CREATE ,a@example.com\nRemove,b@example.com\nAdd,c@example.com\n")
    assert [r.action for r in read_roster(p).rows] == ["create", "revoke", "create"]


def test_extend_row_needs_a_date(tmp_path):
    p = write(tmp_path, "action,email,access_end\nextend,a@example.com,\nextend,b@example.com,2028-01-01\n")
    roster = read_roster(p)
    assert codes(roster.errors) == [("missing-value", 2, "access_end")]
    assert roster.rows[0].access_end == dt.date(2028, 1, 1)


def test_dates_in_text_and_cells(tmp_path):
    p = write(tmp_path, "email,access_start,access_end\n"
                        "a@example.com,2027-03-01,13/04/2027\n"
                        "b@example.com,46447,April 30 2027\n"
                        "c@example.com,03/04/2027,\n"
                        "d@example.com,next week,\n"
                        "e@example.com,2027-05-01,2027-04-01\n"
                        "f@example.com,31/02/2027,\n")
    roster = read_roster(p, default_action="create")
    assert codes(roster.errors) == [("ambiguous-date", 4, "access_start"), ("bad-date", 5, "access_start"),
                                    ("end-before-start", 6, "access_end"), ("bad-date", 7, "access_start")]
    a, b = roster.rows
    assert (a.access_start, a.access_end) == (dt.date(2027, 3, 1), dt.date(2027, 4, 13))
    assert b.access_start == dt.date(2027, 3, 1)
    assert "next week" in roster.errors[1].message and "2027-03-01" in roster.errors[1].message


@pytest.mark.parametrize("value,fmt,expected", [
    (dt.date(2027, 3, 1), None, dt.date(2027, 3, 1)),
    (dt.datetime(2027, 3, 1, 9, 30), None, dt.date(2027, 3, 1)),
    ("2027-03-01", None, dt.date(2027, 3, 1)),
    ("2027-03-01T00:00:00", None, dt.date(2027, 3, 1)),
    (46447, None, dt.date(2027, 3, 1)),
    (46447.0, None, dt.date(2027, 3, 1)),
    ("13/04/2027", None, dt.date(2027, 4, 13)),
    ("04/13/2027", None, dt.date(2027, 4, 13)),
    ("05/05/2027", None, dt.date(2027, 5, 5)),
    ("03/04/2027", "dmy", dt.date(2027, 4, 3)),
    ("03/04/2027", "mdy", dt.date(2027, 3, 4)),
    ("3.4.27", "dmy", dt.date(2027, 4, 3)),
    ("1 March 2027", None, dt.date(2027, 3, 1)),
])
def test_parse_date_accepts(value, fmt, expected):
    assert parse_date(value, fmt).value == expected


@pytest.mark.parametrize("value,code", [
    ("03/04/2027", "ambiguous-date"), ("2027", "bad-date"), (2027, "bad-date"), (True, "bad-date"),
    ("31/02/2027", "bad-date"), (dt.time(9, 0), "bad-date"), ("soon", "bad-date"),
])
def test_parse_date_refuses(value, code):
    assert parse_date(value).code == code


def test_emails_checked_and_messages(tmp_path):
    p = write(tmp_path, "email\n" "ok@example.com\n" "no-at-sign.example.com\n" "a b@example.com\n"
                        "x@localhost\n" "dots..here@example.com\n" "Info@Example.ORG\n")
    roster = read_roster(p, default_action="invite")
    assert codes(roster.errors) == [("invalid-email", r, "email") for r in (3, 4, 5, 6)]
    msgs = [e.message for e in roster.errors]
    assert msgs[0] == "Row 3: 'no-at-sign.example.com' is not a valid email address (there is no @)."
    assert "(it contains a space)" in msgs[1]
    assert all(m.startswith(f"Row {r}: ") and m.endswith(".") for m, r in zip(msgs, (3, 4, 5, 6)))
    info = roster.rows[1]
    assert (info.email, info.email_normalized, info.email_key) == ("Info@Example.ORG", "info@example.org", "info@example.org")


def test_numbers_and_booleans_in_text_columns(tmp_path):
    import openpyxl

    p = tmp_path / "types.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["email", "first_name", "pool", "password"])
    wb.active.append(["a@example.com", 42, 1001, 73914268205])
    wb.active.append([True, "B", 1, ""])
    wb.save(p)
    roster = read_roster(p, default_action="create")
    row = roster.rows[0]
    assert (row.first_name, row.pool, row.password) == ("42", "1001", "73914268205")
    assert codes(roster.errors) == [("invalid-email", 3, "email")]


def test_cell_too_long_is_an_error_only_in_used_columns(tmp_path):
    p = write(tmp_path, "email,first_name,notes_for_hr\n"
                        f"a@example.com,{'x' * 1200},ok\n"
                        f"b@example.com,Bea,{'y' * 1200}\n")
    roster = read_roster(p, default_action="create")
    assert codes(roster.errors) == [("cell-too-long", 2, "first_name")]
    assert "1,200 characters" in roster.errors[0].message
    assert ("cell-too-long", 3, "notes_for_hr") in codes(roster.warnings)
    assert [r.email for r in roster.rows] == ["b@example.com"]


def test_a_hundred_thousand_rows_are_all_read_and_valid(tmp_path):
    """100,000 rows in three pools, every one valid (how fast is bench/'s job, not a test's)."""
    lines = ["action,email,first_name,last_name,access_end,pool"]
    lines += [f"create,user{i}@example{i % 7}.com,F{i},L{i},2027-{1 + i % 12:02d}-01,P{i % 3}" for i in range(100_000)]
    p = write(tmp_path, "\n".join(lines) + "\n")
    roster = read_roster(p)
    assert len(roster.rows) == 100_000 and roster.errors == ()
    assert roster.rows[-1].email == "user99999@example4.com" and roster.rows[-1].pool == "P0"
