"""The TUI's tool screens (outbox, audit log, templates, batch), driven with Pilot
inside a tiny app of our own, so they can be tested without the app shell."""

from __future__ import annotations

import asyncio
import mailbox

from rich.text import Text
from textual.app import App
from textual.widgets import DataTable

from regtui import config
from regtui.core.models import OutboxEmail
from regtui.core.services import demo, outbox

SIZE = (100, 30)


class ToolApp(App):
    """Stands in for RegtuiApp: the attributes our screens read, and one screen pushed on mount."""

    def __init__(self, actor, make_screen):
        super().__init__()
        self.actor = actor
        self.db_label = "test"
        self._make_screen = make_screen
        self.quit_called = False

    def on_mount(self) -> None:
        self.push_screen(self._make_screen())

    def action_quit(self) -> None:  # a literal [@click=app.quit] must never get here
        self.quit_called = True
        self.exit()


def run(coro):
    return asyncio.run(coro)


async def settle(pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def cells(table: DataTable, column: int) -> list[str]:
    out = []
    for r in range(table.row_count):
        value = table.get_row_at(r)[column]
        out.append(value.plain if isinstance(value, Text) else str(value))
    return out


def column(table: DataTable, key: str) -> list[str]:
    """A column's cells by its key (a paged list shows the columns that fit its width)."""
    return [v.plain if isinstance(v, Text) else str(v) for v in table.get_column(key)]


# -- outbox ---------------------------------------------------------------------------------


def test_outbox_lists_queued_and_send_now_delivers_into_maildir(admin):
    from regtui.tui.screens.outbox import OutboxScreen
    from regtui.tui.widgets.paged import PAGE

    demo.fill(admin)
    queued = outbox.counts(admin)["queued"]
    assert queued > 0

    async def go():
        app = ToolApp(admin, OutboxScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(DataTable)
            assert table.row_count == min(queued, PAGE)
            assert set(column(table, "status")) == {"queued"}
            ids = [int(x) for x in column(table, "id")]
            assert ids == sorted(ids, reverse=True)  # newest first
            await pilot.press("s")
            await settle(pilot)
            assert set(column(table, "status")) == {"sent"}
            report = str(screen.query_one("#outbox-report").render())
            assert f"{queued} sent" in report

    run(go())
    assert outbox.counts(admin)["sent"] == queued
    assert outbox.counts(admin)["queued"] == 0
    assert len(mailbox.Maildir(config.maildir_path(), create=False)) == queued


def test_outbox_filter_and_retry_failed(admin):
    from textual.widgets import Select

    from regtui.tui.screens.outbox import OutboxScreen

    outbox.queue("a@example.com", "RegCodeEmailText", {})
    outbox.queue("b@example.com", "RegCodeEmailText", {})
    bad = OutboxEmail.get(OutboxEmail.to == "b@example.com")
    OutboxEmail.update(status="failed", last_error="550 no such user").where(OutboxEmail.id == bad.id).execute()

    async def go():
        app = ToolApp(admin, OutboxScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            table = app.screen.query_one(DataTable)
            assert table.row_count == 2
            app.screen.query_one(Select).value = "failed"
            await settle(pilot)
            assert column(table, "to") == ["b@example.com"]
            assert column(table, "Last error") == ["550 no such user"]
            await pilot.press("r")
            await settle(pilot)
            assert table.row_count == 0  # still filtering on failed
            await pilot.press("f")  # failed -> sending
            await pilot.press("f")  # sending -> all
            await settle(pilot)
            assert table.row_count == 2

    run(go())
    assert OutboxEmail.get_by_id(bad.id).status == "queued"


def test_outbox_subject_is_shown_literally(admin):
    from regtui.tui.screens.outbox import OutboxScreen

    OutboxEmail.create(to="x@example.com", subject="[@click=app.quit]x[/]", body="b", message_id="<m1@t>")
    OutboxEmail.create(to="y@example.com", subject="clear\x1b[2Jscreen", body="b", message_id="<m2@t>")

    async def go():
        app = ToolApp(admin, OutboxScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            table = app.screen.query_one(DataTable)
            assert column(table, "subject") == ["clear\\x1b[2Jscreen", "[@click=app.quit]x[/]"]  # escape codes never reach the terminal
            # click where the subject is drawn: nothing happens
            await pilot.click(DataTable, offset=(62, 2))
            await pilot.pause()
            assert table.cursor_coordinate.row == 1
            assert not app.quit_called
            assert app.is_running

    run(go())


def test_outbox_shows_the_selected_body_with_its_link_as_a_placeholder_and_searches_recipients(admin):
    """Issue 10 item 16: the outbox shows an email's body as the learner reads it, the link a
    placeholder (never a live link), and searches by recipient in the database, a page at a time."""
    from textual.widgets import Static

    from regtui.tui.screens.outbox import OutboxScreen
    from regtui.tui.widgets.paged import PAGE, PagedList

    demo.fill(admin)  # invitations: bodies with the link placeholder
    for n in range(PAGE + 20):
        OutboxEmail.create(to=f"bulk{n:03d}@example.com", subject=f"Note {n}", body=f"Body {n}", message_id=f"<b{n}@t>")
    invited = OutboxEmail.select().where(OutboxEmail.link_purpose == outbox.INVITATION_LINK).first()
    total = OutboxEmail.select().count()

    async def go():
        app = ToolApp(admin, OutboxScreen)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            paged = app.screen.query_one(PagedList)
            assert paged.table.row_count == PAGE and paged.status_text.startswith(f"1–{PAGE} of {total:,} emails")
            paged.filter_input.value = invited.to
            paged.apply_filter()
            await settle(pilot)
            assert set(column(paged.table, "to")) == {invited.to}
            paged.table.move_cursor(row=0)
            await settle(pilot)
            body = str(app.screen.query_one("#outbox-body", Static).render())
            assert f"To: {invited.to}" in body
            assert "<the invitation's claim link, made when the email is sent>" in body
            assert "/claim/" not in body and outbox.LINK not in body
            paged.filter_input.value = "bulk1"
            paged.apply_filter()
            await settle(pilot)
            assert paged.page.total == 20  # bulk100 to bulk119
            assert sorted(column(paged.table, "to")) == [f"bulk{n}@example.com" for n in range(100, 120)]

    run(go())


def test_orders_list_pages_filters_and_sorts_in_the_database(admin):
    from regtui.core.models import Customer, Order
    from regtui.tui.screens.shops import ShopsScreen
    from regtui.tui.widgets.paged import PAGE, PagedList

    demo.fill(admin)
    customer = Customer.select().order_by(Customer.id).first()
    Order.insert_many([{"number": f"BULK-{n:04d}", "customer": customer.id} for n in range(PAGE + 30)]).execute()
    total = Order.select().count()

    async def go():
        app = ToolApp(admin, ShopsScreen)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            paged = app.screen.query_one("#orders-list", PagedList)
            assert paged.status_text.startswith(f"1–{PAGE} of {total:,} orders")
            assert column(paged.table, "number")[0] == f"BULK-{PAGE + 29:04d}"  # the newest first
            paged.table.focus()
            await pilot.press("end")
            await settle(pilot)
            assert paged.status_text.startswith(f"{total - len(paged.page.rows) + 1}–{total} of {total:,}")
            paged.filter_input.value = "bulk-00"
            paged.apply_filter()
            await settle(pilot)
            assert sorted(column(paged.table, "number")) == [f"BULK-{n:04d}" for n in range(100)][:PAGE]
            paged.sort_by("number")  # from newest first to by number
            await settle(pilot)
            assert column(paged.table, "number") == [f"BULK-{n:04d}" for n in range(100)]

    run(go())


# -- audit log ------------------------------------------------------------------------------


def test_audit_filter_by_operator_and_detail_shows_json_literally(admin):
    from textual.widgets import Input, Static

    from regtui.core.models import Customer
    from regtui.core.services import audit
    from regtui.tui.screens.audit import AuditScreen

    demo.fill(admin)
    customer = Customer.select().first()
    audit.record("helen", "customer.note", customer, before=None, after={"note": "[@click=app.quit]x[/]"})

    async def go():
        app = ToolApp(admin, AuditScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            table = screen.query_one(DataTable)
            everyone = table.row_count
            assert everyone > 1
            assert "helen" in column(table, "operator")
            screen.query_one("#audit-operator", Input).value = "helen"
            await settle(pilot)
            assert column(table, "operator") == ["helen"]
            assert column(table, "Record") == [f"customer {customer.name}"]  # named, not customer:ID
            table.move_cursor(row=0)
            await pilot.pause()
            detail = screen.query_one("#audit-detail", Static).render()
            shown = str(detail)
            assert "[@click=app.quit]x[/]" in shown and "customer.note" in shown
            screen.query_one("#audit-operator", Input).value = ""
            screen.query_one("#audit-record", Input).value = f"customer:{customer.id}"
            await settle(pilot)
            assert 1 < table.row_count < everyone
            assert set(column(table, "Record")) == {f"customer {customer.name}"}
            assert not app.quit_called

    run(go())


def test_audit_searches_by_email_and_pool_name_and_names_records(admin):
    """Issue 10 item 16: the audit log searched in the database by a learner's email and by a
    pool's ORDER-LINE, its records named (learner email, pool ORDER-LINE, customer name), a
    control character in a name shown escaped."""
    from regtui.core.models import Customer, Pool
    from regtui.core.services import customers, pools, registrations
    from regtui.core.services.learners import LearnerSpec
    from regtui.tui.screens.audit import AuditScreen
    from regtui.tui.widgets.paged import PagedList

    demo.fill(admin)
    pool = Pool.select().order_by(Pool.id).first()
    line = pools.refs(pool)[1]
    registrations.assign(admin, pool, [LearnerSpec("zed.audit@example.com", "Zed", "Audit")])
    customers.add(admin, "Evil\x1b[2JCorp", "evil@example.com")

    async def go():
        app = ToolApp(admin, AuditScreen)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            paged = app.screen.query_one(PagedList)
            table = paged.table
            assert all(":" not in r.split(" ")[0] for r in column(table, "Record")[:20] if " " in r)
            paged.filter_input.value = "zed.audit@"
            paged.apply_filter()
            await settle(pilot)
            records = column(table, "Record")
            assert records and all("zed.audit@example.com" in r for r in records)
            assert f"access zed.audit@example.com in {line}" in records
            assert paged.status_text.startswith(f"{len(records)} events")  # all of them on one page
            paged.filter_input.value = line
            paged.apply_filter()
            await settle(pilot)
            records = column(table, "Record")
            assert records and all(r.endswith(f" in {line}") or r == f"pool {line}" for r in records)
            paged.filter_input.value = "evil@"
            paged.apply_filter()
            await settle(pilot)
            assert column(table, "Record") == ["customer Evil\\x1b[2JCorp"]  # escaped, never sent to the terminal

    run(go())


def test_audit_pages_through_many_events_newest_first(admin):
    from regtui.core.models import AuditEvent
    from regtui.core.services import audit
    from regtui.tui.screens.audit import AuditScreen
    from regtui.tui.widgets.paged import PAGE, PagedList

    audit.record_rows("bulk", "note.add", "note", ((n, None, {"n": n}) for n in range(250)))
    total = AuditEvent.select().count()

    async def go():
        app = ToolApp(admin, AuditScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            paged = app.screen.query_one(PagedList)
            first = [r.id for r in paged.page.rows]
            assert len(first) == PAGE and first == sorted(first, reverse=True)
            assert paged.status_text.startswith(f"1–{PAGE} of {total:,} events")
            paged.table.move_cursor(row=PAGE - 1)
            await pilot.press("down")  # past the page's last row: the next page
            await settle(pilot)
            assert paged.page.rows[0].id == first[-1] - 1
            assert paged.status_text.startswith(f"{PAGE + 1}–{2 * PAGE} of")
            await pilot.press("end")
            await settle(pilot)
            assert paged.page.rows[-1].id == min(e.id for e in AuditEvent.select(AuditEvent.id))
            paged.sort_by("operator")  # sorted by the database, over every page
            await settle(pilot)
            ops = [r.operator for r in paged.page.rows]
            assert ops == sorted(ops)

    run(go())


# -- templates ------------------------------------------------------------------------------


def test_templates_edit_preview_and_save(admin):
    from textual.widgets import Input, OptionList, Static, TextArea

    from regtui.core.models import EmailTemplate
    from regtui.core.services import templates
    from regtui.tui.screens.templates import TemplatesScreen

    async def go():
        app = ToolApp(admin, TemplatesScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            names = screen.query_one(OptionList)
            assert [str(names.get_option_at_index(i).prompt) for i in range(names.option_count)] == sorted(templates.DEFAULTS)
            names.highlighted = names.get_option_index("SetPasswordText")
            await pilot.pause()
            assert screen.current == "SetPasswordText"
            screen.query_one("#tpl-subject", Input).value = "Hi $first_name [@click=app.quit]x[/]"
            screen.query_one("#tpl-body", TextArea).text = "Your link: $link"
            await pilot.pause(0.5)
            preview = str(screen.query_one("#tpl-preview", Static).render())
            assert "Hi Ada [@click=app.quit]x[/]" in preview
            assert templates.SAMPLE_VALUES["link"] in preview
            await pilot.press("ctrl+s")
            await settle(pilot)
            # broken placeholder: the sentence is shown, nothing saved
            screen.query_one("#tpl-body", TextArea).text = "Cost: $ 5"
            await pilot.pause(0.5)
            assert "broken placeholder" in str(screen.query_one("#tpl-preview", Static).render())
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert any("broken placeholder" in n.message and n.severity == "error" for n in app._notifications)
            assert not app.quit_called

    run(go())
    row = EmailTemplate.get(EmailTemplate.name == "SetPasswordText")
    assert (row.subject, row.body) == ("Hi $first_name [@click=app.quit]x[/]", "Your link: $link")


def test_templates_cannot_be_saved_by_a_limited_admin(admin):
    from textual.widgets import Button, Input

    from regtui.core.models import EmailTemplate
    from regtui.core.services import operators
    from regtui.tui.screens.templates import TemplatesScreen

    operators.set_operator(admin, "lim", "limited")
    limited = operators.Actor(name="lim", role="limited")
    before = {(t.name, t.subject) for t in EmailTemplate.select()}

    async def go():
        app = ToolApp(limited, TemplatesScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            assert screen.query_one("#tpl-save", Button).disabled
            screen.query_one("#tpl-subject", Input).value = "changed"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert any(n.severity == "error" and "admin role" in n.message for n in app._notifications)

    run(go())
    assert {(t.name, t.subject) for t in EmailTemplate.select()} == before


# -- batch ----------------------------------------------------------------------------------


def _pool_with_room(admin):
    from regtui.core.services import pools

    demo.fill(admin)
    return next(p for p in pools.listing(admin) if p.available >= 5)


def test_batch_plans_a_csv_shows_kinds_and_applies(admin, tmp_path):
    from textual.widgets import Input, Select, Switch

    from regtui.core.models import Code, Learner, Pool
    from regtui.tui.screens.batch import BatchScreen, report_path

    pool = _pool_with_room(admin)
    roster = tmp_path / "people.csv"
    roster.write_text(
        "action,email,first_name,last_name\n"
        "create,new.one@example.com,New,One\n"
        "invite,new.two@example.com,New,Two\n"
        "create,not-an-email,Bad,Row\n",
        encoding="utf-8",
    )

    async def go():
        app = ToolApp(admin, BatchScreen)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            screen.query_one("#batch-path", Input).value = str(roster)
            screen.query_one("#batch-pool", Select).value = pool.id
            await pilot.press("f5")
            await settle(pilot)
            table = screen.query_one("#batch-diff", DataTable)
            assert not [n.message for n in app._notifications if n.severity == "error"]
            assert cells(table, 1) == ["create", "invite", "error"]
            assert cells(table, 0) == ["2", "3", "4"]
            assert screen.query_one("#batch-apply").disabled  # errors stop the apply
            assert "not-an-email" in str(screen.query_one("#batch-errors").render()) or "row 4" in str(
                screen.query_one("#batch-errors").render())

            screen.query_one("#batch-skip", Switch).value = True
            await pilot.pause()
            assert screen.plan is None  # options changed: plan again
            await pilot.press("f5")
            await settle(pilot)
            assert not screen.query_one("#batch-apply").disabled
            await pilot.press("f6")
            await pilot.pause()
            assert type(app.screen).__name__ == "ConfirmScreen"
            await pilot.press("y")
            await settle(pilot)
            assert app.screen is screen
            summary = str(screen.query_one("#batch-summary").render())
            assert "Applied as batch" in summary
            assert str(report_path(roster)) in summary.replace("\n", "")

    run(go())
    learner = Learner.get(Learner.email_key == "new.one@example.com")
    assert Code.select().where((Code.pool == pool.id) & (Code.learner == learner.id) & (Code.state == "claimed")).count() == 1
    after = Pool.get_by_id(pool.id)
    assert after.available == pool.available - 2
    assert report_path(roster).exists()


def test_batch_path_suggester_completes_roster_files(tmp_path):
    from regtui.tui.screens.batch import PathSuggester

    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "march.xlsx").write_bytes(b"")
    (tmp_path / "rosters" / "notes.pdf").write_bytes(b"")
    s = PathSuggester()
    assert run(s.get_suggestion(str(tmp_path / "ros"))) == str(tmp_path / "rosters") + "/"
    assert run(s.get_suggestion(str(tmp_path / "rosters" / "m"))) == str(tmp_path / "rosters" / "march.xlsx")
    assert run(s.get_suggestion(str(tmp_path / "rosters" / "n"))) is None


def test_outbox_is_closed_to_a_manager(admin):
    from textual.widgets import Button

    from regtui.core.models import Customer
    from regtui.core.services import operators
    from regtui.tui.screens.outbox import OutboxScreen

    demo.fill(admin)
    customer = Customer.select().first()
    operators.set_operator(admin, "hr", "manager", customer)
    manager = operators.Actor(name="hr", role="manager", customer_id=customer.id)
    queued = outbox.counts(admin)["queued"]

    async def go():
        app = ToolApp(manager, OutboxScreen)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert any(n.severity == "error" and "Reading the outbox" in n.message for n in app._notifications)
            assert app.screen.query_one("#outbox-table").row_count == 0
            assert app.screen.query_one("#outbox-send", Button).disabled
            assert app.screen.query_one("#outbox-retry", Button).disabled
            await pilot.press("s")
            await settle(pilot)
            assert any(n.severity == "error" and "role" in n.message for n in app._notifications)

    run(go())
    assert outbox.counts(admin)["queued"] == queued


def test_batch_refuses_a_stale_plan_with_a_sentence(admin, tmp_path):
    from textual.widgets import Input, Select

    from regtui.core.models import Learner, Pool
    from regtui.core.services import registrations
    from regtui.core.services.learners import LearnerSpec
    from regtui.tui.screens.batch import BatchScreen

    pool = _pool_with_room(admin)
    roster = tmp_path / "[red]stale[x].csv"
    roster.write_text("email,first name,last name\nlate@example.com,Late,Comer\n", encoding="utf-8")

    async def go():
        app = ToolApp(admin, BatchScreen)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = app.screen
            screen.query_one("#batch-path", Input).value = str(roster)
            screen.query_one("#batch-pool", Select).value = pool.id
            screen.query_one("#batch-action", Select).value = "create"
            await pilot.press("f5")
            await settle(pilot)
            assert cells(screen.query_one("#batch-diff", DataTable), 1) == ["create"]
            assert "[red]stale[x].csv" in str(screen.query_one("#batch-summary").render())
            # someone else takes the same learner's seat meanwhile
            registrations.assign(admin, Pool.get_by_id(pool.id), [LearnerSpec("late@example.com", "Late", "Comer")])
            await pilot.press("f6")
            await pilot.pause()
            await pilot.press("y")
            await settle(pilot)
            errors = [n.message for n in app._notifications if n.severity == "error"]
            assert errors and "nothing was applied" in errors[-1].lower()
            assert "Nothing was applied" in str(screen.query_one("#batch-summary").render())

    run(go())
    assert Learner.select().where(Learner.email_key == "late@example.com").count() == 1
