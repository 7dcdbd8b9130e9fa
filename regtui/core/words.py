"""Wording shared by every face: counts with the right singular or plural."""

from __future__ import annotations


def plural(n: int, word: str, words: str | None = None) -> str:
    """"1 seat", "2 seats", "1,000 seats" (``words`` for an irregular plural: "1 access", "2 accesses")."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def span_of(first: int, last: int, total: int, word: str, words: str | None = None) -> str:
    """Where a page of a list is: "3 customers" when it shows them all, else "1–50 of 1,200 customers"."""
    if first == 1 and last == total:
        return plural(total, word, words)
    return f"{first:,}–{last:,} of {plural(total, word, words)}"
