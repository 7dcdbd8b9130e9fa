"""The floor of a roster apply: the same rows it writes, written plainly, timed.

    python bench/floor.py DATABASE_URL POOL_ID N PLAN.json

Into a database made like the apply's (one pool of N available seats, nothing else), in one
transaction: the batch row holding the plan (the text of PLAN.json, which the bench saved from the
same roster), N learners, N codes moved to claimed, N accesses, N queued emails (a body of the size
a confirmation has), N audit events of the batch and 2N events for the learning platforms
(``access.granted`` and ``learner.created``: every seat and account change is an event,
DESIGN.md), with executemany on SQLite and COPY on PostgreSQL (the code update through a
COPY-loaded staging table), and the pool's counters once. No services, no rules, no reading back:
what the database needs to take those rows. Prints the seconds.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BODY = ("Hello First Last,\n\nYou now have access to Bench session (BENCH-1) from 2027-01-11 until 2027-12-31.\n"
        "Set your password here: http://127.0.0.1:8080/set-password/12345.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ\n"
        "The link works for 14 days.\n\nBench Corp\n")


def rows_for(n: int, first_learner: int, first_access: int, code_ids: list[int], session_id: int, batch_id: int):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ")
    expires = (dt.datetime.now() + dt.timedelta(days=14)).isoformat(sep=" ")
    learners, codes, accesses, emails, events, changes = [], [], [], [], [], []
    nonces = secrets.token_hex(16 * n)
    for i in range(n):
        lid, email = first_learner + i, f"learner{i:06d}@example.com"
        learners.append((lid, email, email, f"First{i}", f"Last{i}", True, now, nonces[32 * i:32 * i + 32], expires))
        codes.append((lid, code_ids[i]))
        accesses.append((first_access + i, lid, session_id, code_ids[i], "2027-01-11", "2027-12-31", "active"))
        changes.append(("access.granted", first_access + i, now, "{}"))
        changes.append(("learner.created", None, now, '{"learner_id": %d}' % lid))
        emails.append((now, email, "Your access to Bench session", BODY, f"<floor-{i}@bench>", "queued", 0))
        events.append((now, "bench", "seat.assign", "code", code_ids[i], '{"state": "claimed", "learner_id": %d}' % lid,
                       batch_id))
    return learners, codes, accesses, emails, events, changes


def main() -> int:
    url, pool_id, n, plan_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    from regtui.core import db
    from regtui.core.models import Access, AuditEvent, Batch, Code, Event, Learner, OutboxEmail, Pool, database

    db.open_database(url)
    session_id = Pool.get_by_id(pool_id).session_id
    code_ids = [i for (i,) in database.execute_sql("SELECT id FROM code WHERE pool_id = %s ORDER BY id"
                                                   .replace("%s", database.param), [pool_id])][:n]
    first = (database.execute_sql("SELECT COALESCE(MAX(id), 0) FROM learner").fetchone()[0] or 0) + 1
    first_access = (database.execute_sql("SELECT COALESCE(MAX(id), 0) FROM access").fetchone()[0] or 0) + 1
    plan_text = Path(plan_file).read_text(encoding="utf-8")
    # the batch's id is reserved before the clock starts, as the learners' and accesses' are
    batch_id = (database.execute_sql("SELECT COALESCE(MAX(id), 0) FROM batch").fetchone()[0] or 0) + 1
    learners, codes, accesses, emails, events, changes = rows_for(n, first, first_access, code_ids, session_id, batch_id)
    tables = [
        (Learner._meta.table_name, "id, email, email_key, first_name, last_name, must_set_password, created_at, "
                                   "password_link_nonce, password_link_expires_at", learners),
        (Access._meta.table_name, "id, learner_id, session_id, code_id, starts, ends, status", accesses),
        (OutboxEmail._meta.table_name, "created_at, \"to\", subject, body, message_id, status, attempts", emails),
        (AuditEvent._meta.table_name, "at, operator, action, record_type, record_id, after, batch_id", events),
        (Event._meta.table_name, "kind, access_id, at, data", changes),
    ]
    postgres = url.startswith("postgres")
    t0 = time.perf_counter()
    with database.atomic():
        cursor = database.cursor()
        cursor.execute(f"INSERT INTO {Batch._meta.table_name} (id, file_name, sha256, operator, pool_id, applied_at, counts, "
                       f"plan, outcome) VALUES ({', '.join([database.param] * 9)})",
                       (batch_id, "roster.csv", "0" * 64, "bench", pool_id, dt.datetime.now(), "{}", plan_text, "applied"))
        code_table = Code._meta.table_name
        if postgres:
            cursor.execute("CREATE TEMP TABLE floor_codes (learner_id bigint, id bigint) ON COMMIT DROP")
            with cursor.copy("COPY floor_codes (learner_id, id) FROM STDIN") as copy:
                for row in codes:
                    copy.write_row(row)
        for table, columns, rows in tables[:1]:
            _load(cursor, postgres, table, columns, rows)
        if postgres:
            cursor.execute(f"UPDATE {code_table} c SET state = 'claimed', learner_id = f.learner_id "
                           "FROM floor_codes f WHERE c.id = f.id")
        else:
            cursor.executemany(f"UPDATE {code_table} SET state = 'claimed', learner_id = ? WHERE id = ?", codes)
        for table, columns, rows in tables[1:]:
            _load(cursor, postgres, table, columns, rows)
        database.execute_sql(f"UPDATE pool SET available = available - {n}, claimed = claimed + {n} WHERE id = {pool_id}")
    print(f"{time.perf_counter() - t0:.3f}")
    return 0


def _load(cursor, postgres: bool, table: str, columns: str, rows: list[tuple]) -> None:
    if postgres:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in columns.split(","))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


if __name__ == "__main__":
    raise SystemExit(main())
