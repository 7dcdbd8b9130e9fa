"""Roster engine speed, in one run: see bench/README.md.

    .venv/bin/python bench/run.py [--rows 100000] [--pg postgresql://postgres@127.0.0.1:5432/test] [--no-pg]

Generates bench/out/roster-N.csv and .xlsx once (openpyxl write_only), then measures:
python-calamine reading the xlsx; `regtui batch plan` (whole process) on the xlsx and the csv;
`regtui batch apply --yes` of N creates on SQLite and PostgreSQL (a fresh database each, with a
pool of N seats made through the services), with each child's peak memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = sys.executable
sys.path.insert(0, str(ROOT))


def generate(n: int) -> tuple[Path, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = OUT / f"roster-{n}.csv", OUT / f"roster-{n}.xlsx"
    if not csv_path.exists():
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["action", "email", "first_name", "last_name", "access_end"])
            for i in range(n):
                w.writerow(["create", f"learner{i:06d}@example.com", f"First{i}", f"Last{i}", "2027-12-31"])
    if not xlsx_path.exists():
        import datetime as dt

        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("Roster")
        ws.append(["action", "email", "first_name", "last_name", "access_end"])
        end = dt.date(2027, 12, 31)
        for i in range(n):
            ws.append(["create", f"learner{i:06d}@example.com", f"First{i}", f"Last{i}", end])
        wb.save(xlsx_path)
    return csv_path, xlsx_path


def libreoffice_style(n: int) -> Path:
    """bench/out/roster-N-lo.xlsx: N rows in the form LibreOffice saves a sheet, made from the
    LibreOffice-saved fixtures/rosters/good.xlsx (its styles, workbook and properties kept; the
    sheet rewritten with LibreOffice's row and cell attributes, shared strings, dates as serials in
    its date style), with a pool column naming the bench pool (B1-1): the plan takes it from the file."""
    import zipfile
    from xml.sax.saxutils import escape

    out = OUT / f"roster-{n}-lo.xlsx"
    if out.exists():
        return out
    source = ROOT / "fixtures" / "rosters" / "good.xlsx"
    with zipfile.ZipFile(source) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    head, tail = sheet[:sheet.index("<sheetData>")], sheet[sheet.index("</sheetData>"):]
    head = head.replace('<dimension ref="A1:G16"/>', f'<dimension ref="A1:G{n + 1}"/>')
    strings: dict[str, int] = {}

    def sst(text: str) -> int:
        return strings.setdefault(text, len(strings))

    row_attrs = 'customFormat="false" ht="12.8" hidden="false" customHeight="false" outlineLevel="0" collapsed="false"'
    header = ["action", "email", "first_name", "last_name", "access_start", "access_end", "pool"]
    rows = [f'<row r="1" {row_attrs}>' + "".join(f'<c r="{col}1" s="0" t="s"><v>{sst(h)}</v></c>'
                                                  for col, h in zip("ABCDEFG", header)) + "</row>"]
    for i in range(n):
        r = i + 2
        cells = [("A", sst("create")), ("B", sst(f"learner{i:06d}@example.com")), ("C", sst(f"First{i}")),
                 ("D", sst(f"Last{i}"))]
        rows.append(f'<row r="{r}" {row_attrs}>' + "".join(f'<c r="{c}{r}" s="0" t="s"><v>{v}</v></c>' for c, v in cells)
                    + f'<c r="E{r}" s="1" t="n"><v>46398</v></c><c r="F{r}" s="1" t="n"><v>46752</v></c>'
                    + f'<c r="G{r}" s="0" t="s"><v>{sst("B1-1")}</v></c></row>')
    parts["xl/worksheets/sheet1.xml"] = (head + "<sheetData>" + "".join(rows) + tail).encode()
    items = "".join(f'<si><t xml:space="preserve">{escape(t)}</t></si>' for t in strings)
    parts["xl/sharedStrings.xml"] = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                                     '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                                     f'count="{7 * (n + 1)}" uniqueCount="{len(strings)}">{items}</sst>').encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out


def floor(url: str, home: Path, pool_id: int, n: int) -> float:
    """bench/floor.py's seconds: the apply's rows written plainly (executemany / COPY), the batch
    row holding the PLAN.json that `batch plan --out` saved from the csv."""
    out = subprocess.run([PY, str(ROOT / "bench" / "floor.py"), url, str(pool_id), str(n), str(OUT / f"plan-{n}.json")], cwd=ROOT,
                         env=bench_env(url, home), capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"floor on {url} failed: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def run_child(args: list[str], env: dict, stdout=subprocess.DEVNULL) -> tuple[float, float, int, str]:
    """(wall seconds, peak RSS MB, exit code, stderr tail) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, err.strip()[-300:]


def calamine_child(xlsx: Path, env: dict) -> tuple[float, float, int, str]:
    code = ("from python_calamine import CalamineWorkbook\n"
            f"rows = CalamineWorkbook.from_path({str(xlsx)!r}).get_sheet_by_index(0).to_python()\n"
            "assert len(rows) > 1\n")
    return run_child([PY, "-c", code], env)


def calamine_inprocess(xlsx: Path) -> float:
    from python_calamine import CalamineWorkbook

    t0 = time.perf_counter()
    rows = CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_index(0).to_python()
    assert len(rows) > 1
    return time.perf_counter() - t0


def make_database(url: str, home: Path, seats_n: int) -> int:
    """A fresh schema with an admin and one pool of ``seats_n`` seats, made through the services. Returns the pool id."""
    code = f"""
from regtui.core import db
from regtui.core.services import catalog, customers, operators, orders, templates, tokens
db.open_database({url!r}); db.migrate(); templates.seed(); tokens.create_key()
operators.make_first_admin(operators.login_name()); admin = operators.current()
product = catalog.add_product(admin, "BENCH", "Bench course")
session = catalog.add_session(admin, product, "BENCH-1", "Bench session", access_days=365)
customer = customers.add(admin, "Bench Corp", "hr@bench.example.com")
_, [pool] = orders.add(admin, customer, [orders.OrderLine(session, {seats_n})], number="B1")
print(pool.id)
"""
    env = bench_env(url, home)
    out = subprocess.run([PY, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"setting up {url} failed: {out.stderr[-2000:]}")
    return int(out.stdout.strip().splitlines()[-1])


def bench_env(url: str, home: Path) -> dict:
    env = dict(os.environ)
    env.update({"REGTUI_DB": url, "REGTUI_HOME": str(home), "REGTUI_SITE_URL": "http://127.0.0.1:8080"})
    env.pop("REGTUI_SMTP", None)
    # an installation has its modules compiled (pip does it); this sandbox sets the variable,
    # which would make every child compile regtui from source (about 0.1 s a command)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if url.startswith("sqlite"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(sqlite_installation()), env.get("PYTHONPATH")]))
    return env


def sqlite_installation() -> Path:
    """A folder that, first on the path, makes this venv import as a SQLite installation does.

    The README installs regtui without the `postgres` extra for SQLite, so such an installation
    has no PostgreSQL driver, and peewee's import does not load one (about 0.1-0.15 s of every
    command). The bench's venv has psycopg (the dev extra); its SQLite steps see it as missing."""
    folder = OUT / "sqlite-installation"
    folder.mkdir(parents=True, exist_ok=True)
    for driver in ("psycopg", "psycopg2"):
        (folder / f"{driver}.py").write_text(
            f'raise ImportError("{driver} is not installed in a SQLite installation (bench/run.py)")\n')
    return folder


def pg_schema(base: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    return schema, f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


def pg_checkpoint(base: str) -> None:
    """A CHECKPOINT before a timed PostgreSQL step, so that each starts with the same WAL state:
    an apply writes about 500 MB of WAL, and a checkpoint that the previous step's WAL started
    otherwise lands in the middle of the next one (seconds of difference between runs). Needs a
    superuser or pg_checkpoint; without, the step runs as it comes."""
    import psycopg

    try:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:
        print(f"no CHECKPOINT before the step ({exc}); PostgreSQL timings vary more", file=sys.stderr)


def drop_pg_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pg", default=os.environ.get("REGTUI_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--plan-only", action="store_true",
                    help="only calamine and the plans (no applies, no PostgreSQL), on a database of its own")
    ap.add_argument("--repeat", type=int, default=1, help="run each timed step N times and keep the fastest")
    opts = ap.parse_args()
    n = opts.rows
    t0 = time.perf_counter()
    csv_path, xlsx_path = generate(n)
    print(f"roster files ready in {time.perf_counter() - t0:.1f}s: {csv_path.name} {csv_path.stat().st_size / 1e6:.1f} MB, "
          f"{xlsx_path.name} {xlsx_path.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    results: list[tuple[str, float, float | None, str, str]] = []

    tag = "-plan" if opts.plan_only else ""
    home = OUT / f"home{tag}"
    home.mkdir(parents=True, exist_ok=True)
    sqlite_file = OUT / f"bench{tag}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(sqlite_file) + suffix).unlink(missing_ok=True)
    sqlite_url = f"sqlite:///{sqlite_file}"
    pool_id = make_database(sqlite_url, home, n)
    env = bench_env(sqlite_url, home)

    rep = max(opts.repeat, 1)

    def fastest(step):
        runs = [step() for _ in range(rep)]
        return min(runs, key=lambda r: r[0] if isinstance(r, tuple) else r)

    cal = fastest(lambda: calamine_inprocess(xlsx_path))
    cal_wall, cal_rss, _, _ = fastest(lambda: calamine_child(xlsx_path, env))
    results.append(("python-calamine read (in process)", cal, None, "", "reference"))
    results.append(("python-calamine read (whole process)", cal_wall, cal_rss, "", ""))

    regtui = [PY, "-m", "regtui"]
    plan_x, rss, rc, err = fastest(lambda: run_child(regtui + ["batch", "plan", str(xlsx_path), "--pool", str(pool_id)], env))
    assert rc == 0, err
    results.append(("batch plan xlsx (whole process)", plan_x, rss, f"{plan_x / cal:.2f}× calamine ({plan_x / cal_wall:.2f}× its process)", "≤ 3×"))
    plan_c, rss, rc, err = fastest(lambda: run_child(regtui + ["batch", "plan", str(csv_path), "--pool", str(pool_id)], env))
    assert rc == 0, err
    results.append(("batch plan csv (whole process)", plan_c, rss, "", "≤ 2 s"))
    plan_j, rss, rc, err = fastest(lambda: run_child(regtui + ["batch", "plan", str(csv_path), "--pool", str(pool_id), "--json"], env))
    results.append(("batch plan csv --json", plan_j, rss, "", ""))
    plan_xj, rss, rc, err = fastest(lambda: run_child(regtui + ["batch", "plan", str(xlsx_path), "--pool", str(pool_id), "--json"], env))
    results.append(("batch plan xlsx --json", plan_xj, rss, "", ""))
    lo_path = libreoffice_style(n)
    lo_cal = fastest(lambda: calamine_inprocess(lo_path))
    plan_lo, rss, rc, err = fastest(lambda: run_child(regtui + ["batch", "plan", str(lo_path)], env))
    assert rc == 0, err
    results.append(("python-calamine read, LibreOffice-style xlsx (in process)", lo_cal, None, "", "reference"))
    results.append(("batch plan LibreOffice-style xlsx, pool from the file (whole process)", plan_lo, rss,
                    f"{plan_lo / lo_cal:.2f}× calamine", "≤ 3×"))
    if opts.plan_only:
        return report(n, results)

    # every apply runs on a fresh copy of the database the plans were made on
    plan_file = OUT / f"plan-{n}.json"
    _, _, rc, err = run_child(regtui + ["batch", "plan", str(csv_path), "--pool", str(pool_id), "--out", str(plan_file)], env)
    assert rc == 0, err

    def sqlite_apply(source: Path, pool_args: list[str]):
        def step():
            fresh = OUT / f"apply{tag}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(fresh) + suffix).unlink(missing_ok=True)
                if Path(str(sqlite_file) + suffix).exists():
                    shutil.copyfile(str(sqlite_file) + suffix, str(fresh) + suffix)
            result = run_child(regtui + ["batch", "apply", str(source), *pool_args, "--yes"], bench_env(f"sqlite:///{fresh}", home))
            assert result[2] == 0, result[3]
            return result
        return fastest(step)

    pool_args = ["--pool", str(pool_id)]
    apply_c, rss, _, _ = sqlite_apply(csv_path, pool_args)
    results.append(("batch apply csv, SQLite", apply_c, rss, f"{apply_c / plan_c:.2f}× plan csv", "≤ 3×, < 500 MB"))
    apply_x, rss, _, _ = sqlite_apply(xlsx_path, pool_args)
    results.append(("batch apply xlsx, SQLite", apply_x, rss, f"{apply_x / plan_x:.2f}× plan xlsx", "≤ 3×"))
    apply_p, rss, _, _ = sqlite_apply(plan_file, [])
    results.append(("batch apply PLAN.json (saved by plan csv --out), SQLite", apply_p, rss, f"{apply_p / plan_c:.2f}× plan csv", "≤ 3×"))

    def sqlite_floor() -> float:
        fresh = OUT / f"floor{tag}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(fresh) + suffix).unlink(missing_ok=True)
            if Path(str(sqlite_file) + suffix).exists():
                shutil.copyfile(str(sqlite_file) + suffix, str(fresh) + suffix)
        return floor(f"sqlite:///{fresh}", home, pool_id, n)

    floor_s = fastest(sqlite_floor)
    results.append(("floor: the apply's rows by executemany, SQLite", floor_s, None, "", "reference"))
    results.append(("batch apply csv vs plan + 1.3× floor, SQLite", apply_c, None,
                    f"{apply_c / (plan_c + 1.3 * floor_s):.2f}× (plan {plan_c:.2f} + 1.3 × {floor_s:.2f})", "≤ 1.0×"))

    if not opts.no_pg:
        def pg_run():
            schema, pg_url = pg_schema(opts.pg)
            try:
                pg_pool = make_database(pg_url, home, n)
                penv = bench_env(pg_url, home)
                plan = run_child(regtui + ["batch", "plan", str(csv_path), "--pool", str(pg_pool)], penv)
                assert plan[2] == 0, plan[3]
                pg_checkpoint(opts.pg)
                applied = run_child(regtui + ["batch", "apply", str(csv_path), "--pool", str(pg_pool), "--yes"], penv)
                assert applied[2] == 0, applied[3]
            finally:
                drop_pg_schema(opts.pg, schema)
            schema, pg_url = pg_schema(opts.pg)  # the floor in a fresh schema made the same way
            try:
                floor_pool = make_database(pg_url, home, n)
                pg_checkpoint(opts.pg)
                pg_floor = floor(pg_url, home, floor_pool, n)
            finally:
                drop_pg_schema(opts.pg, schema)
            return plan, applied, pg_floor

        try:
            runs = [pg_run() for _ in range(rep)]
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        else:
            pplan, prss = min((r[0][0], r[0][1]) for r in runs)
            papply, arss = min((r[1][0], r[1][1]) for r in runs)
            results.append(("batch plan csv, PostgreSQL", pplan, prss, "", ""))
            results.append(("batch apply csv, PostgreSQL", papply, arss, f"{papply / pplan:.2f}× plan csv on PostgreSQL", "≤ 5×, < 500 MB"))
            pfloor = min(r[2] for r in runs)
            results.append(("floor: the apply's rows by COPY, PostgreSQL", pfloor, None, "", "reference"))
            results.append(("batch apply csv vs plan + 1.3× floor, PostgreSQL", papply, None,
                            f"{papply / (pplan + 1.3 * pfloor):.2f}× (plan {pplan:.2f} + 1.3 × {pfloor:.2f})", "≤ 1.0×"))

    return report(n, results)


def report(n: int, results) -> int:
    print(f"\n{n:,} rows, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| step | seconds | peak RSS MB | ratio | target |")
    print("| --- | ---: | ---: | --- | --- |")
    for name, secs, rss, ratio, target in results:
        print(f"| {name} | {secs:.2f} | {'' if rss is None else f'{rss:.0f}'} | {ratio} | {target} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
