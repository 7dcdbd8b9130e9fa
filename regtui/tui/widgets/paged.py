"""A long list read from the database a page at a time: filter as you type, sort by any
column, tick rows across pages.

The list holds one page of rows (``PAGE``). Moving past its last row (Down, Page Down) reads
the next page after the last row's position, moving before its first row reads the page
before; Home and End jump to the top and the bottom of the whole list. Each read runs in a
worker thread; a newer read interrupts the older one's query in the database and its answer
is dropped, so typing never waits for a stale query.

The rows come from a ``fetch`` function (a service's ``page``) called with
(search, sort, descending, after, before, last, limit); it returns a ``paging.Page``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from regtui.core.errors import RegtuiError
from regtui.core import paging
from regtui.core.paging import Page, Ticked
from regtui.core.words import plural, span_of
from regtui.tui.messages import ActionFailed
from regtui.tui.widgets import cell, close_thread_db, sentence

log = logging.getLogger("regtui.tui")

PAGE = 100
DEBOUNCE = 0.12
TICK_WIDTH = 3


@dataclass(frozen=True)
class Column:
    """A column: ``key`` is what the service sorts by (None: not sortable); ``width`` the usual
    width, used to choose columns at narrow widths, dropping the highest ``priority`` first. A
    ``flex`` column (long text: a subject, a record's name) is always shown: it keeps ``width``
    and takes the room the others leave, its text cut at its edge."""

    key: str | None
    label: str
    width: int
    priority: int = 1
    flex: bool = False


class PageLoaded(Message):
    def __init__(self, request: int, page: Page, how: str, args: tuple) -> None:
        super().__init__()
        self.request, self.page, self.how, self.args = request, page, how, args


class PageFailed(Message):
    def __init__(self, request: int, sentence: str) -> None:
        super().__init__()
        self.request, self.sentence = request, sentence


class TotalCounted(Message):
    def __init__(self, request: int, total: int) -> None:
        super().__init__()
        self.request, self.total = request, total


class PagedTable(DataTable):
    """The list's table: moving past either end of the page asks the list for the next or
    previous page; Home and End mean the whole list's top and bottom."""

    BINDINGS = [
        Binding("space", "tick", "Tick", show=False),
        Binding("a", "tick_all", "Tick all matching", show=False),
        Binding("s", "next_sort", "Sort", show=False),
        Binding("S", "reverse", "Reverse sort", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", show=False),
    ]

    @property
    def owner(self) -> "PagedList":
        return self.parent  # type: ignore[return-value]

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("next_sort", "reverse") and not self.owner.sort_keys:
            return False  # the screen uses s and S itself: the headers still sort
        if action in ("tick", "tick_all") and not self.owner.tickable:
            return False
        return True

    def action_cursor_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.owner.turn(1)
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0:
            self.owner.turn(-1)
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.owner.turn(1)
        else:
            super().action_page_down()

    def action_page_up(self) -> None:
        if self.cursor_row <= 0:
            self.owner.turn(-1)
        else:
            super().action_page_up()

    def action_scroll_top(self) -> None:
        self.owner.jump(bottom=False)

    def action_scroll_bottom(self) -> None:
        self.owner.jump(bottom=True)

    action_scroll_home = action_scroll_top
    action_scroll_end = action_scroll_bottom

    def action_page(self, step: int) -> None:
        self.owner.turn(step)

    def action_tick(self) -> None:
        self.owner.toggle_tick()

    def action_tick_all(self) -> None:
        self.owner.tick_all()

    def action_next_sort(self) -> None:
        self.owner.next_sort()

    def action_reverse(self) -> None:
        self.owner.sort_by(self.owner.sort)


class PagedList(Vertical):
    """A filter box, a table of one page, and a status line with the total."""

    DEFAULT_CSS = """
    PagedList { height: 1fr; }
    PagedList > Input { margin: 0; }
    PagedList > PagedTable { height: 1fr; }
    PagedList > .paged-status { height: 1; width: 1fr; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("slash", "filter", "Filter", show=False)]

    class Changed(Message):
        """A page is on screen (``list`` is the PagedList): totals and ticks may have changed."""

        def __init__(self, paged: "PagedList") -> None:
            super().__init__()
            self.paged = paged

        @property
        def control(self) -> "PagedList":
            return self.paged

    class Highlighted(Message):
        """The row at the cursor changed (``row``: the row object, None when the list is empty)."""

        def __init__(self, paged: "PagedList", row: Any) -> None:
            super().__init__()
            self.paged, self.row = paged, row

        @property
        def control(self) -> "PagedList":
            return self.paged

    def __init__(self, fetch: Callable[..., Page], columns: list[Column], cells: Callable[[Any], tuple], *,
                 word: str = "row", words: str | None = None, sort: str | None = None, descending: bool = False,
                 tickable: bool = False,
                 placeholder: str = "Filter (type to search)", empty: str = "", id: str | None = None, table_id: str | None = None,
                 sort_keys: bool = True) -> None:
        super().__init__(id=id)
        self.sort_keys = sort_keys  # s and S sort (False: they are the screen's keys)
        self.table_id = table_id
        self.fetch_page = fetch
        self.columns = columns
        self.cells = cells
        self.word, self.words = word, words or word + "s"  # "1 delivery", "2 deliveries" (regtui.core.words)
        self.sort = sort or next(c.key for c in columns if c.key)
        self.descending = descending
        self.tickable = tickable
        self.placeholder = placeholder
        self.empty = empty  # the status line of an empty list: what to do first
        self.status_text = ""
        self.search = ""
        self.page: Page | None = None
        self.start: int | None = 0  # index in the whole list of the page's first row (None: not known yet)
        self.loading_args: tuple = (None, None, False)  # (after, before, last) of the page on screen
        self.request = 0
        self.shown_request = 0
        self.ticked = Ticked()
        self.ticked_total: int | None = 0  # rows matching when "tick all" was pressed (None: being counted)
        self.shown_columns: list[Column] = list(columns)
        self.shown_widths: list[tuple[int, int]] = [(i, c.width) for i, c in enumerate(columns)]
        self._debounce: Timer | None = None
        self._connections: dict[int, Any] = {}  # request -> the database connection running its query
        self._cursor_to: tuple[str, Any] | None = None  # after a load: ("key", k), ("first", None) or ("last", None)

    # --- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Input(placeholder=self.placeholder, classes="paged-filter", compact=True)
        yield PagedTable(cursor_type="row", zebra_stripes=True, id=self.table_id)
        yield Static("Loading…", classes="paged-status", markup=False)

    @property
    def table(self) -> PagedTable:
        return self.query_one(PagedTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one(Input)

    def on_mount(self) -> None:
        self._build_columns()

    def on_show(self) -> None:
        """The first page is read when the list is first shown (a list on a tab not yet opened
        costs nothing)."""
        if self.request == 0:
            self.reload()

    def on_resize(self) -> None:
        if self._fit_columns() and self.page is not None:
            self._fill()

    def _fit_columns(self) -> bool:
        """Choose the columns and their widths for the list's width and the rows on screen; True
        when they changed and the table was rebuilt. The widths always add up to the list's
        width, so a new page never changes the table's size (no layout, no measuring)."""
        chosen = self._choose_columns(self.size.width, self._measure())
        if chosen == self.shown_widths:
            return False
        if self._cursor_to is None:  # before the rebuild empties the table and moves its cursor
            key = self.current_key()
            self._cursor_to = ("key", key) if key is not None else None
        self.shown_widths = chosen
        self.shown_columns = [self.columns[i] for i, _ in chosen]
        self._build_columns()
        return True

    def _measure(self) -> list[int]:
        """Each column's width: its label's or its widest value on the page."""
        widths = [len(c.label) + 2 for c in self.columns]
        if self.page is not None:
            for row in self.page.rows:
                for i, value in enumerate(self.cells(row)):
                    widths[i] = max(widths[i], len(value.plain if isinstance(value, Text) else str(value or "")))
        return widths

    def _choose_columns(self, width: int, widths: list[int]) -> list[tuple[int, int]]:
        """(column index, width) of the columns that fit, the lowest priority numbers first, in
        their own order, a column counted at most twice its usual width (a longer value widens
        it, and the list scrolls sideways); the room left over widens the last one."""
        room = width - (TICK_WIDTH + 2 if self.tickable else 0) - 2  # the vertical scrollbar
        flex = [i for i, c in enumerate(self.columns) if c.flex]
        keep: dict[int, int] = {i: self.columns[i].width for i in flex}
        room -= sum(w + 2 for w in keep.values())
        for index, column in sorted(enumerate(self.columns), key=lambda item: (item[1].priority, item[0])):
            counted = min(widths[index], column.width * 2)
            if not column.flex and (counted + 2 <= room or not keep):
                keep[index] = widths[index]
                room -= counted + 2
        if keep and room > 0:
            if flex:  # shared by the flex columns, none wider than its text needs while others can use it
                for n, i in enumerate(flex):
                    keep[i] += room // len(flex) + (1 if n < room % len(flex) else 0)
            else:
                keep[max(keep)] += room
        return sorted(keep.items())

    def _build_columns(self) -> None:
        table = self.table
        table.clear(columns=True)
        if self.tickable:
            table.add_column("✓", key="_tick", width=TICK_WIDTH)
        for index, width in self.shown_widths:
            column = self.columns[index]
            table.add_column(self._label(column), key=column.key or column.label, width=width)

    def _label(self, column: Column) -> str:
        if column.key and column.key == self.sort:
            return f"{column.label} {'▼' if self.descending else '▲'}"
        return column.label

    # --- reading pages ---------------------------------------------------------------------

    def reload(self, keep_place: bool = False) -> None:
        """Read the list again: the same page and row (``keep_place``), or from the top."""
        if keep_place and self.page is not None:
            key = self.current_key()
            self._cursor_to = ("key", key) if key is not None else None
            after, before, last = self.loading_args
            self._load(after, before, last, "same")
        else:
            self._cursor_to = ("first", None)
            self._load(None, None, False, "top")

    def turn(self, step: int) -> None:
        """The next (1) or previous (-1) page, if there is one."""
        page = self.page
        if page is None or self.shown_request != self.request:
            return
        if step > 0 and page.next:
            self._cursor_to = ("first", None)
            self._load(page.next, None, False, "next")
        elif step < 0 and page.prev:
            self._cursor_to = ("last", None)
            self._load(None, page.prev, False, "prev")

    def jump(self, bottom: bool) -> None:
        self._cursor_to = ("last", None) if bottom else ("first", None)
        self._load(None, None, bottom, "bottom" if bottom else "top")

    def _load(self, after, before, last: bool, how: str) -> None:
        self.request += 1
        self._interrupt_older(self.request)
        self._status("Loading…")
        if how in ("top", "bottom") and not self.table.row_count:
            self._loading_row()
        self.fetch_worker(self.request, self.search, self.sort, self.descending, after, before, last, how)

    def _loading_row(self) -> None:
        table = self.table
        table.clear()
        blank = [Text("")] * (len(table.columns) - 1)
        table.add_row(Text("Loading…", style="italic"), *blank, key="_loading")

    @work(thread=True, exclusive=True, group="paged")
    def fetch_worker(self, request: int, search: str, sort: str, descending: bool, after, before, last: bool,
                     how: str) -> None:
        from regtui.core import db

        try:
            self._connections[request] = db.connection()
            with paging.counting_later():  # the rows first; a filter's total when counted, below
                page = self.fetch_page(search=search, sort=sort, descending=descending, after=after, before=before,
                                       last=last, limit=PAGE)
            self.post_message(PageLoaded(request, page, how, (after, before, last)))
            if page.count is not None and request == self.request:
                self.post_message(TotalCounted(request, page.count()))
        except Exception as exc:  # an interrupted (stale) query is expected; anything else is told
            if request == self.request:
                if not isinstance(exc, RegtuiError):
                    log.exception("TUI page read failed")
                self.post_message(PageFailed(request, sentence(exc)))
                self.post_message(ActionFailed(sentence(exc)))
        finally:
            self._connections.pop(request, None)
            close_thread_db()

    def _interrupt_older(self, request: int) -> None:
        """Stop the queries of older requests in the database (their answers would be dropped)."""
        for older, connection in list(self._connections.items()):
            if older < request:
                stop = getattr(connection, "interrupt", None) or getattr(connection, "cancel", None)
                try:
                    stop()
                except Exception:
                    pass

    @on(PageLoaded)
    def page_loaded(self, message: PageLoaded) -> None:
        message.stop()
        if message.request != self.request:
            return  # an older answer: the latest request wins
        page = message.page
        previous = self.page
        if message.how == "next" and previous is not None and self.start is not None:
            self.start += len(previous.rows)
        elif message.how == "prev" and self.start is not None:
            self.start = max(0, self.start - len(page.rows))
        elif message.how == "top":
            self.start = 0
        elif message.how == "bottom":
            self.start = None if page.total is None else max(0, page.total - len(page.rows))
        self.page = page
        self.loading_args = message.args
        self.shown_request = message.request
        self._fit_columns()
        self._fill()
        self.post_message(self.Changed(self))
        self.post_message(self.Highlighted(self, self.current()))

    @on(PageFailed)
    def page_failed(self, message: PageFailed) -> None:
        message.stop()
        if message.request != self.request:
            return
        self.shown_request = message.request
        if self.page is None:
            self.table.clear()  # no "Loading…" left behind
        self._status(message.sentence)

    @on(TotalCounted)
    def total_counted(self, message: TotalCounted) -> None:
        message.stop()
        if message.request != self.shown_request or self.page is None:
            return
        page = self.page = replace(self.page, total=message.total, count=None)
        if self.start is None and self.loading_args[2]:  # the bottom page: where it starts is known now
            self.start = max(0, message.total - len(page.rows))
        if self.ticked.all_matching and self.ticked_total is None:
            self.ticked_total = message.total
        self._status()
        self.post_message(self.Changed(self))

    def _fill(self) -> None:
        """Show the page's rows, placing the cursor where ``_cursor_to`` says."""
        table = self.table
        page = self.page
        if page is None:
            return
        target = self._cursor_to
        self._cursor_to = None
        table.clear()
        visible_index = [self.columns.index(c) for c in self.shown_columns]
        for row, key in zip(page.rows, page.keys):
            values = self.cells(row)
            shown = [values[i] if isinstance(values[i], Text) else cell(values[i]) for i in visible_index]
            if self.tickable:
                shown.insert(0, self._tick_cell(key))
            table.add_row(*shown, key=str(key))
        row = 0
        if target and target[0] == "last":
            row = max(0, len(page.rows) - 1)
        elif target and target[0] == "key":
            keys = [str(k) for k in page.keys]
            row = keys.index(str(target[1])) if str(target[1]) in keys else 0
        table.move_cursor(row=row, animate=False)
        self._status()

    def _empty_sentence(self) -> str:
        return f"No {self.words} match {self.search!r}" if self.search else (self.empty or f"No {self.words} yet")

    def _where(self) -> str:
        """Which rows of the list the page shows: "1–100 of 1,200 users", "1 user", "last 100 of … (counting) users"."""
        page, start = self.page, self.start
        if start is not None and page.total is not None:
            return span_of(start + 1, start + len(page.rows), page.total, self.word, self.words)
        where = f"{start + 1:,}–{start + len(page.rows):,}" if start is not None else f"last {len(page.rows):,}"
        total = f"… (counting) {self.words}" if page.total is None else plural(page.total, self.word, self.words)
        return f"{where} of {total}"

    def _tick_cell(self, key) -> Text:
        return Text("[x]" if self.is_ticked(key) else "[ ]")

    def _status(self, note: str = "") -> None:
        page = self.page
        parts = []
        if page is not None and page.rows:
            parts.append(self._where())
        elif page is not None:
            parts.append(self._empty_sentence())
        label = next((c.label for c in self.columns if c.key == self.sort), self.sort)
        parts.append(f"by {label.lower()} {'↓' if self.descending else '↑'}")
        if self.tickable and self.ticked:
            parts.append(f"{self.ticked_count():,} ticked")
        if note:
            parts.append(note)
        self.status_text = " · ".join(parts)
        self.query_one(".paged-status", Static).update(self.status_text, layout=False)  # one line, always

    # --- the row at the cursor -------------------------------------------------------------

    def current_key(self):
        table = self.table
        page = self.page
        if page is None or not page.rows or not table.row_count:
            return None
        index = min(table.cursor_row, len(page.rows) - 1)
        return page.keys[index]

    def current(self):
        """The row object at the cursor, or None."""
        page = self.page
        key = self.current_key()
        if key is None or page is None:
            return None
        return page.rows[page.keys.index(key)]

    # --- filter and sort -------------------------------------------------------------------

    def action_filter(self) -> None:
        self.filter_input.focus()

    @on(Input.Changed, ".paged-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self.apply_filter)

    def apply_filter(self) -> None:
        self._debounce = None
        value = self.filter_input.value.strip()
        if value != self.search:
            self.search = value
            if self.ticked.all_matching:  # "all matching" meant the old filter's rows
                self.ticked = Ticked()
                self.notify("Ticks cleared: the filter changed.")
            self.reload()

    @on(Input.Submitted, ".paged-filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        self.apply_filter()
        self.table.focus()

    @on(DataTable.RowHighlighted)
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.post_message(self.Highlighted(self, self.current()))

    @on(DataTable.HeaderSelected)
    def header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = str(event.column_key.value)
        if key == "_tick":
            self.tick_all()
        elif any(c.key == key for c in self.columns):
            self.sort_by(key)

    def sort_by(self, key: str) -> None:
        if key == self.sort:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, False
        self._build_columns()
        self.reload()

    def next_sort(self) -> None:
        keys = [c.key for c in self.shown_columns if c.key]
        self.sort_by(keys[(keys.index(self.sort) + 1) % len(keys)] if self.sort in keys else keys[0])

    # --- ticks across pages ----------------------------------------------------------------

    def is_ticked(self, key) -> bool:
        t = self.ticked
        return key not in t.excluded if t.all_matching else key in t.keys

    def ticked_count(self) -> int:
        t = self.ticked
        if t.all_matching:
            return max(0, (self.ticked_total or 0) - len(t.excluded))
        return len(t.keys)

    def toggle_tick(self) -> None:
        key = self.current_key()
        if not self.tickable or key is None:
            return
        t = self.ticked
        if t.all_matching:
            excluded = t.excluded - {key} if key in t.excluded else t.excluded | {key}
            self.ticked = Ticked(all_matching=True, search=t.search, excluded=excluded)
        else:
            keys = t.keys - {key} if key in t.keys else t.keys | {key}
            self.ticked = Ticked(keys=keys)
        self._refresh_ticks()
        row = self.table.cursor_row
        if row < self.table.row_count - 1:
            self.table.move_cursor(row=row + 1)

    def tick_all(self) -> None:
        """Tick every row matching the filter (on every page); again: untick everything."""
        if not self.tickable or self.page is None:
            return
        if self.ticked.all_matching and not self.ticked.excluded:
            self.ticked = Ticked()
        else:
            self.ticked = Ticked(all_matching=True, search=self.search)
            self.ticked_total = self.page.total
        self._refresh_ticks()

    def clear_ticks(self) -> None:
        self.ticked = Ticked()
        self._refresh_ticks()

    def _refresh_ticks(self) -> None:
        table = self.table
        page = self.page
        if page is not None and self.tickable:
            for key in page.keys:
                table.update_cell(str(key), "_tick", self._tick_cell(key))
        self._status()
        self.post_message(self.Changed(self))
