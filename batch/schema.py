"""The roster columns, loaded from ``schemas/roster.json`` (data, not code), and the mapping
of a header row onto them.

Header cells are matched ignoring case, spaces and punctuation ("E-mail Address",
"email_address" and "EMAIL ADDRESS" are the same), against each column's name, title and
aliases.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from batch.errors import RowError

# package data of the top-level ``schemas`` package: found in a wheel install as in a checkout
SCHEMA_PACKAGE, SCHEMA_FILE = "schemas", "roster.json"

ACTIONS = ("create", "invite", "revoke", "extend")
# The columns a report adds to the roster's own (batch.report): a report uploaded again is read as
# its roster, these columns recognised and set aside (the row column gives back each row's number).
REPORT_COLUMNS = ("Report row", "Report status", "Report message")


def header_key(text: Any) -> str:
    """The comparison key of a header cell: accents, case, spaces and punctuation removed."""
    s = unicodedata.normalize("NFKD", str(text))
    s = "".join(c for c in s if not unicodedata.combining(c))
    return re.sub(r"[\W_]+", "", s.casefold())


@dataclass(frozen=True)
class Field:
    name: str
    title: str
    type: str
    description: str
    aliases: tuple[str, ...]
    example: str
    required_for: tuple[str, ...]
    only_for: tuple[str, ...] | None
    enum: tuple[str, ...] | None
    enum_aliases: dict[str, tuple[str, ...]]


@dataclass(frozen=True, eq=False)
class Schema:
    fields: tuple[Field, ...]
    actions: dict[str, dict]
    raw: dict

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def header_index(self) -> dict[str, str]:
        """header key -> canonical column name."""
        return _header_index(self)

    def action_words(self) -> dict[str, str]:
        """Every accepted action word (lower case, single spaces) -> canonical action."""
        f = self.field("action")
        words = {a: a for a in (f.enum or ACTIONS)}
        for action, aliases in f.enum_aliases.items():
            for word in aliases:
                words[" ".join(word.casefold().split())] = action
        return words

    def required(self, action: str) -> tuple[str, ...]:
        return tuple(self.actions.get(action, {}).get("required", ()))

    def required_any_of(self, action: str) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(g) for g in self.actions.get(action, {}).get("requiredAnyOf", ()))


@lru_cache(maxsize=None)
def _header_index(schema: Schema) -> dict[str, str]:
    index: dict[str, str] = {}
    for f in schema.fields:
        for text in (f.name, f.title, *f.aliases):
            key = header_key(text)
            if key and key not in index:
                index[key] = f.name
    return index


def _field(d: dict) -> Field:
    cons = d.get("constraints") or {}
    enum = cons.get("enum")
    return Field(
        name=d["name"],
        title=d.get("title", d["name"]),
        type=d.get("type", "string"),
        description=d.get("description", ""),
        aliases=tuple(d.get("aliases", ())),
        example=str(d.get("example", "")),
        required_for=tuple(d.get("requiredFor", ())),
        only_for=tuple(d["onlyFor"]) if "onlyFor" in d else None,
        enum=tuple(enum) if enum else None,
        enum_aliases={k: tuple(v) for k, v in (d.get("enumAliases") or {}).items()},
    )


def load_schema(path: str | Path | None = None) -> Schema:
    """Load the roster schema (``schemas/roster.json`` unless another path is given)."""
    if path is None:
        return _default_schema()
    return _load(Path(path))


@lru_cache(maxsize=1)
def _default_schema() -> Schema:
    from importlib import resources

    return _parse(json.loads(resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")))


def _load(path: Path) -> Schema:
    return _parse(json.loads(path.read_text(encoding="utf-8")))


def _parse(raw: dict) -> Schema:
    return Schema(fields=tuple(_field(d) for d in raw["fields"]), actions=dict(raw.get("actions", {})), raw=raw)


@dataclass(frozen=True)
class HeaderMap:
    """How a header row maps onto roster columns.

    ``columns``: canonical name -> 0-based index of the column in each row.
    ``titles``: canonical name -> the header text as written in the file.
    ``unknown``: (index, text) of header cells that name no roster column (ignored).
    """

    header: tuple[str, ...]
    columns: dict[str, int]
    titles: dict[str, str]
    unknown: tuple[tuple[int, str], ...]

    def title(self, name: str) -> str:
        return self.titles.get(name, name)


def map_header(header: list | tuple, schema: Schema | None = None) -> tuple[HeaderMap, list[RowError], list[RowError]]:
    """Map the header cells onto canonical columns. Returns (map, errors, warnings).

    Unknown columns are warnings; two cells naming one column is an error. Which columns
    are *required* depends on the actions in the file, so that is checked by the validator.
    """
    schema = schema or load_schema()
    index = schema.header_index
    columns: dict[str, int] = {}
    titles: dict[str, str] = {}
    unknown: list[tuple[int, str]] = []
    errors: list[RowError] = []
    warnings: list[RowError] = []
    texts = tuple("" if h is None else str(h).strip() for h in header)
    for i, text in enumerate(texts):
        if not text:
            continue
        name = index.get(header_key(text))
        if name is None:
            unknown.append((i, text))
        elif name in columns:
            errors.append(RowError(
                "duplicate-column", 1, name, text,
                f"Row 1: the columns '{titles[name]}' and '{text}' both mean {name}; keep only one of them.",
            ))
        else:
            columns[name] = i
            titles[name] = text
    if unknown:
        warnings.append(_unknown_columns_warning([text for _, text in unknown], schema))
    return HeaderMap(texts, columns, titles, tuple(unknown)), errors, warnings


SHOWN_UNKNOWN = 5  # unknown columns named in the warning; a sheet may have thousands


def _unknown_columns_warning(texts: list[str], schema: Schema) -> RowError:
    """One warning for every column that names no roster column (a CSV may have 16,384 of them)."""
    names = ", ".join(schema.names)
    if len(texts) == 1:
        return RowError("unknown-column", 1, texts[0], texts[0],
                        f"Row 1: the column '{texts[0]}' is not a roster column and is ignored (roster columns: {names}).")
    shown = ", ".join(f"'{t}'" for t in texts[:SHOWN_UNKNOWN])
    more = f" and {len(texts) - SHOWN_UNKNOWN:,} more" if len(texts) > SHOWN_UNKNOWN else ""
    return RowError("unknown-column", 1, texts[0], len(texts),
                    f"Row 1: {len(texts):,} columns are not roster columns and are ignored ({shown}{more}; "
                    f"roster columns: {names}).")
