"""Record ids as people type them: ASCII digits only.

Python's ``str.isdigit`` and ``int`` accept other digits too: ``int("١")`` is 1 (Arabic-Indic)
and ``"²".isdigit()`` is true while ``int("²")`` fails. An id typed with such characters is
not an id, so a reference made of them is looked up as a name (and not found) instead.
"""

from __future__ import annotations

import re

_ID = re.compile(r"[0-9]{1,18}")  # 18 digits: more than any database id, less than a 64-bit overflow


def parse_id(text: object) -> int | None:
    """The id ``text`` spells in ASCII digits, or None if it is anything else."""
    text = str(text).strip()
    return int(text) if _ID.fullmatch(text) else None
