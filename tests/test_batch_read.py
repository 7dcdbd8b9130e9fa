"""Readers: every kind of file HR people upload, and every way a file can be broken or hostile.
Pure: no database. Fixtures in fixtures/rosters/ were made by LibreOffice, openpyxl and Python
(fixtures/rosters/make_fixtures.py)."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from batch import Limits, RosterError, read_roster
from batch.readers import read_raw
from regtui.core.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures" / "rosters"


def raises_sentence(path, code, contains, **kw):
    with pytest.raises(RosterError) as info:
        read_raw(path, **kw)
    err = info.value
    assert isinstance(err, UsageError) and err.exit_code == 2
    assert err.code == code
    text = str(err)
    assert contains in text
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text
    return text


# --------------------------------------------------------------------------- good files


def test_libreoffice_xlsx_has_real_date_cells_and_row_numbers():
    raw = read_raw(FIX / "good.xlsx")
    assert raw.kind == "xlsx"
    assert raw.header == ("action", "email", "first_name", "last_name", "access_start", "access_end", "pool")
    assert raw.header_row == 1
    assert [r.row for r in raw.rows] == list(range(2, 17))
    first = raw.rows[0].cells
    assert first[:4] == ("create", "ada.lovelace@example.com", "Ada", "Lovelace")
    assert type(first[5]) is dt.date and first[5] == dt.date(2027, 3, 1)
    assert all(type(r.cells[5]) is dt.date for r in raw.rows)


def test_good_xlsx_validates_completely():
    roster = read_roster(FIX / "good.xlsx")
    assert roster.errors == () and roster.warnings == ()
    assert len(roster.rows) == 15
    assert roster.rows[-1].access_end == dt.date(2027, 3, 1) + dt.timedelta(days=7 * 14)
    assert roster.rows[0].access_start == dt.date(2027, 1, 11)
    assert {r.pool for r in roster.rows} == {"1001-1"}
    assert roster.name == "good.xlsx"
    import hashlib

    assert roster.sha256 == hashlib.sha256((FIX / "good.xlsx").read_bytes()).hexdigest()


def test_blank_rows_skipped_but_numbering_kept_xlsx_and_csv():
    for name in ("messy.xlsx", "messy.csv"):
        raw = read_raw(FIX / name)
        nums = [r.row for r in raw.rows]
        assert 3 not in nums and 6 not in nums, name
        assert nums[:3] == [2, 4, 5], name
        assert raw.header[1] == "E-mail Address"


def test_messy_xlsx_and_csv_read_the_same():
    a, b = read_raw(FIX / "messy.xlsx"), read_raw(FIX / "messy.csv")
    assert a.header == b.header
    assert [r.row for r in a.rows] == [r.row for r in b.rows]
    assert [r.cells for r in a.rows] == [r.cells for r in b.rows]


def test_long_ids_and_phone_numbers_are_not_floats():
    raw = read_raw(FIX / "longid.xlsx")
    ada = raw.rows[0].cells
    assert ada[3] == 123456789012345 and type(ada[3]) is int
    assert ada[4] == 4915112345678 and type(ada[4]) is int
    assert type(ada[5]) is int  # pool 1001 typed as a number
    roster = read_roster(FIX / "longid.xlsx", default_action="create")
    assert roster.rows[0].pool == "1001"


def test_multisheet_reads_first_visible_sheet_or_the_named_one():
    raw = read_raw(FIX / "multisheet.xlsx")
    assert raw.sheet == "Roster"
    assert raw.rows[0].cells[0] == "margaret@example.com"
    hidden = read_raw(FIX / "multisheet.xlsx", sheet="Old list")
    assert hidden.rows[0].cells[0] == "old.person@example.com"
    assert read_raw(FIX / "multisheet.xlsx", sheet="roster").sheet == "Roster"  # case-insensitive
    text = raises_sentence(FIX / "multisheet.xlsx", "no-sheet", "no sheet named 'Nope'", sheet="Nope")
    assert "'Roster'" in text


def test_utf16_excel_unicode_text():
    raw = read_raw(FIX / "utf16.txt")
    assert raw.encoding == "utf-16-le" and raw.delimiter == "\t"
    assert raw.header[1] == "Email"
    assert raw.rows[0].cells[2:4] == ("Zoë", "Ødegård")
    assert raw.rows[2].cells[2:4] == ("太郎", "山田")


def test_cp1252_semicolons():
    raw = read_raw(FIX / "cp1252.csv")
    assert raw.encoding == "cp1252" and raw.delimiter == ";"
    assert raw.rows[0].cells[2:5] == ("José", "Müller", "Grüße aus Köln; bis bald")
    assert raw.rows[1].cells[4] == "Coût : 10 €"
    roster = read_roster(FIX / "cp1252.csv")
    assert roster.errors == ()
    assert [r.first_name for r in roster.rows] == ["José", "François", "Björn"]


def test_utf8_bom_is_not_part_of_the_first_header():
    raw = read_raw(FIX / "bom.csv")
    assert raw.encoding == "utf-8-sig"
    assert raw.header == ("Email", "First Name", "Last Name")
    roster = read_roster(FIX / "bom.csv", default_action="invite")
    assert [r.first_name for r in roster.rows] == ["Renée", "Søren"]


@pytest.mark.parametrize("delim", [",", ";", "\t"])
def test_delimiter_detected(tmp_path, delim):
    p = tmp_path / "r.csv"
    p.write_text(delim.join(["email", "first_name", "last_name"]) + "\n"
                 + delim.join(["a@example.com", "Smith, Jr", "O;Brien"]).replace("Smith, Jr", '"Smith, Jr"').replace("O;Brien", '"O;Brien"') + "\n",
                 encoding="utf-8")
    raw = read_raw(p)
    assert raw.delimiter == delim
    assert raw.rows[0].cells == ("a@example.com", "Smith, Jr", "O;Brien")


def test_excel_sep_hint_line(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("sep=;\r\nemail;first_name\r\na@example.com;Ann, Jr\r\n", encoding="utf-8")
    raw = read_raw(p)
    assert raw.delimiter == ";" and raw.header == ("email", "first_name")
    assert raw.rows[0] == (2, ("a@example.com", "Ann, Jr"))


def test_quoted_newline_keeps_spreadsheet_row_numbers(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('email,message\na@example.com,"two\nlines"\n\nb@example.com,x\n', encoding="utf-8")
    raw = read_raw(p)
    assert [r.row for r in raw.rows] == [2, 4]


def test_progress_is_reported(tmp_path):
    calls, stages = [], set()
    read_roster(FIX / "good.xlsx", progress=lambda stage, done, total: calls.append((done, total)) or stages.add(stage))
    assert calls and calls[-1] == (15, 15)
    assert all(0 <= d <= t for d, t in calls) and stages == {"rows"}  # progress(stage, done, total) as everywhere


# --------------------------------------------------------------------------- broken files


def test_renamed_xls():
    raises_sentence(FIX / "renamed.xlsx", "old-xls", "This is an old .xls file; save it as .xlsx or .csv and upload again.")


def test_zip_that_is_not_a_workbook():
    raises_sentence(FIX / "notaworkbook.xlsx", "not-a-workbook", "not an Excel workbook")


def test_empty_file():
    raises_sentence(FIX / "empty.csv", "empty-file", "The file is empty.")


def test_header_only():
    raises_sentence(FIX / "header-only.csv", "no-rows", "header row but no rows")


def test_zip_bomb_refused_before_inflating():
    assert (FIX / "zipbomb.xlsx").stat().st_size < 100_000
    raises_sentence(FIX / "zipbomb.xlsx", "zip-bomb", "zip bomb")


def test_zip_header_that_lies_about_size_is_caught(tmp_path):
    """A part whose central-directory size is smaller than what it inflates to."""
    src = FIX / "good.xlsx"
    data = bytearray(src.read_bytes())
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = zf.getinfo("xl/worksheets/sheet1.xml")
    # patch the central directory's uncompressed size (offset 24 in the entry)
    pos = 0
    while True:
        pos = data.find(b"PK\x01\x02", pos)
        name_len = int.from_bytes(data[pos + 28:pos + 30], "little")
        if data[pos + 46:pos + 46 + name_len] == b"xl/worksheets/sheet1.xml":
            break
        pos += 4
    data[pos + 24:pos + 28] = (info.file_size // 2).to_bytes(4, "little")
    p = tmp_path / "lying.xlsx"
    p.write_bytes(bytes(data))
    raises_sentence(p, "bad-workbook", "damaged")


def test_file_size_limit(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("email\n" + "a@example.com\n" * 1000)
    raises_sentence(p, "file-too-big", "at most", limits=Limits(max_file_bytes=1000))


def test_row_limit_csv(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text("email\n" + "".join(f"u{i}@example.com\n" for i in range(50)))
    raises_sentence(p, "too-many-rows", "more than 10 rows", limits=Limits(max_rows=10))
    assert len(read_raw(p, limits=Limits(max_rows=50)).rows) == 50


def _workbook_with_sheet_xml(tmp_path, sheet_xml: str) -> Path:
    """A minimal but valid xlsx with the given worksheet XML (what a hostile tool could write)."""
    import openpyxl

    base = tmp_path / "base.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["email"])
    wb.save(base)
    out = tmp_path / "crafted.xlsx"
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode()
            dst.writestr(item, data)
    return out


SHEET = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
         '<dimension ref="A1:B2"/><sheetData>{}</sheetData></worksheet>')


def test_sheet_dimension_is_not_trusted_far_cell_refused_cheaply(tmp_path):
    """<dimension> says A1:B2 but a cell sits at row 2,000,000: calamine would allocate the whole
    grid (GBs); the pre-scan refuses it first."""
    xml = SHEET.format('<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
                       '<row r="2000000"><c r = \'AZ2000000\'><v>1</v></c></row>')
    p = _workbook_with_sheet_xml(tmp_path, xml)
    raises_sentence(p, "too-many-rows", "more than 200,000 rows")


def test_far_column_refused(tmp_path):
    xml = SHEET.format('<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c>'
                       '<c r="XFD1"><v>1</v></c></row>')
    p = _workbook_with_sheet_xml(tmp_path, xml)
    raises_sentence(p, "too-many-columns", "at most 256 columns")


def test_wide_and_tall_grid_refused(tmp_path):
    xml = SHEET.format('<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c>'
                       '<c r="IV1"><v>1</v></c></row><row r="150000"><c r="A150000"><v>1</v></c></row>')
    p = _workbook_with_sheet_xml(tmp_path, xml)
    raises_sentence(p, "too-many-cells", "more than a roster may")


def test_cells_without_references_are_bounded(tmp_path):
    cells = "<c><v>1</v></c>" * 300
    xml = SHEET.format('<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
                       f"<row>{cells}</row>")
    p = _workbook_with_sheet_xml(tmp_path, xml)
    raises_sentence(p, "too-many-columns", "columns")


def test_cells_without_references_still_read(tmp_path):
    xml = SHEET.format('<row><c t="inlineStr"><is><t>email</t></is></c></row>'
                       '<row><c t="inlineStr"><is><t>a@example.com</t></is></c></row>')
    p = _workbook_with_sheet_xml(tmp_path, xml)
    assert read_raw(p).rows[0].cells == ("a@example.com",)


def test_formula_without_cached_value_is_a_cell_issue():
    raw = read_raw(FIX / "formula_nocache.xlsx")
    assert {(i.row, i.col, i.code) for i in raw.issues} == {(3, 1, "formula-no-value"), (4, 4, "formula-no-value")}


def test_long_cell_issue_in_xlsx(tmp_path):
    import openpyxl

    p = tmp_path / "long.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["email", "message"])
    wb.active.append(["a@example.com", "x" * 1500])
    wb.save(p)
    raw = read_raw(p)
    assert [(i.row, i.col, i.code) for i in raw.issues] == [(2, 1, "cell-too-long")]


def test_long_cell_issue_in_csv(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("email,message\na@example.com," + "y" * 1001 + "\n")
    raw = read_raw(p)
    assert [(i.row, i.col, i.code) for i in raw.issues] == [(2, 1, "cell-too-long")]
    p.write_text("email,message\na@example.com," + "y" * 200_000 + "\n")
    raises_sentence(p, "cell-too-long", "Row 2")


def test_binary_garbage_and_pdf(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"\x00\x01\x02\x03\x89PNG\x00\x00\x00\x00garbage" * 10)
    raises_sentence(p, "not-a-roster", "neither a spreadsheet nor a text")
    p.write_bytes(b"%PDF-1.7\n...")
    raises_sentence(p, "not-a-roster", "PDF")


def test_truncated_workbook(tmp_path):
    data = (FIX / "good.xlsx").read_bytes()
    p = tmp_path / "cut.xlsx"
    p.write_bytes(data[: len(data) // 2])
    raises_sentence(p, "bad-workbook", "damaged")


def test_missing_file():
    raises_sentence(FIX / "does-not-exist.csv", "no-file", "does not exist")


# --------------------------------------------------------------------------- safety, layers


def test_defusedxml_is_in_force_for_openpyxl():
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML is True


def test_batch_imports_no_textual_and_no_faces():
    code = ("import sys, batch, batch.readers, batch.validate, batch.template, regtui.core.emailcheck; "
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'regtui.tui', 'regtui.cli'))]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_template_round_trips(tmp_path):
    import openpyxl

    from batch.template import write_template

    path = write_template(tmp_path / "template.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Roster", "Instructions"]
    ws = wb["Roster"]
    assert [c.value for c in ws[1]] == ["action", "email", "first_name", "last_name", "password",
                                        "access_start", "access_end", "pool", "message"]
    dvs = ws.data_validations.dataValidation
    assert len(dvs) == 1 and dvs[0].type == "list" and "create,invite,revoke,extend" in dvs[0].formula1
    assert "A2" in str(dvs[0].sqref).split(":")[0]
    lines = {row[0].value: row for row in wb["Instructions"].iter_rows(min_row=2) if row[0].value}
    assert "extend" in lines["email"][2].value and "create" in lines["password"][3].value
    assert "E-mail Address" in lines["email"][5].value

    # HR fills it in (with real dates) and uploads it.
    for r, values in enumerate([
        ["create", "ada@example.com", "Ada", "Lovelace", "", dt.date(2027, 1, 1), dt.date(2027, 12, 31), "1001-1", ""],
        ["extend", "alan@example.org", "", "", "", None, dt.date(2028, 1, 31), "1001-1", ""],
    ], start=2):
        for c, v in enumerate(values, start=1):
            ws.cell(row=r, column=c, value=v if v != "" else None)
    wb.save(path)
    roster = read_roster(path)
    assert roster.errors == ()
    assert [(r.row, r.action, r.access_end) for r in roster.rows] == [
        (2, "create", dt.date(2027, 12, 31)), (3, "extend", dt.date(2028, 1, 31))]
