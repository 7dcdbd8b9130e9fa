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


# A quick look for the same characters in UTF-8, in C code throughout (several times quicker than
# the pattern above on a big chunk of plain text, such as a 100,000-line plan): C0 and DEL bytes;
# then, in text that is not ASCII, the lead bytes of C1 (U+0080-U+009F: C2) and of U+2000-U+207F
# (E2 80, E2 81), where only a text holding one of those is searched with the pattern.
_C0_BYTES = bytes([*range(0, 9), *range(11, 32), 127])


def _plain(text: str) -> bool:
    """True if ``text`` holds nothing ``escape`` would change."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data.translate(None, _C0_BYTES)) != len(data):
        return False
    if text.isascii() or (b"\xc2" not in data and b"\xe2\x80" not in data and b"\xe2\x81" not in data):
        return True
    return _IN_TEXT.search(text) is None


def escape(text: str) -> str:
    """``text`` with every control character shown escaped, newlines and tabs kept."""
    return text if _plain(text) else _IN_TEXT.sub(_visible, text)


def one_line(text: str) -> str:
    """``text`` with every control character, newlines and tabs too, shown escaped."""
    return text if _IN_VALUE.search(text) is None else _IN_VALUE.sub(_visible, text)
