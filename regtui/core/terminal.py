"""Text on its way to a terminal: user data (names typed on the claim page, roster cells) may
hold control characters that a terminal would obey (clear the screen, set the window title,
write the clipboard with OSC 52, move the cursor back over a line). Every face that prints to a
terminal shows them escaped instead, as ``\\x1b``, ``\\r``, ``\\u202e``.

Escaped: the C0 controls, DEL and the C1 controls (category Cc), the bidirectional overrides and
isolates (which reorder what follows them on screen), and the Unicode line and paragraph
separators. JSON output needs none of this: ``json.dumps`` escapes them already.
"""

from __future__ import annotations

import re

_BIDI_AND_SEPARATORS = "\u2028\u2029\u202a-\u202e\u2066-\u2069"
# everything above except newline and tab, which a sentence or a table's layout may hold
_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")
# everything above: for one value (a table cell, a name) that must stay on its line
_IN_VALUE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_AND_SEPARATORS}]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _visible(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape(text: str) -> str:
    """``text`` with every control character shown escaped, newlines and tabs kept."""
    return text if _IN_TEXT.search(text) is None else _IN_TEXT.sub(_visible, text)


def one_line(text: str) -> str:
    """``text`` with every control character, newlines and tabs too, shown escaped."""
    return text if _IN_VALUE.search(text) is None else _IN_VALUE.sub(_visible, text)
