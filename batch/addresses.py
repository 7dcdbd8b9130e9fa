"""Email addresses from any CSV or text file (the TUI's "import addresses" for invitations):
every cell that looks like an address, in order, once each. The file is decoded and split
the way rosters are; the addresses themselves are checked by the service that sends to them."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from batch.errors import RosterError
from batch.readers import decode_text, sniff_delimiter

MAX_BYTES = 10 * 1024 * 1024


def addresses_in(path: str | os.PathLike) -> list[str]:
    file = Path(path).expanduser()
    try:
        if file.stat().st_size > MAX_BYTES:
            raise RosterError(f"{file.name} is larger than {MAX_BYTES // (1024 * 1024)} MB; that is not a list of addresses.", "file-too-big")
        data = file.read_bytes()
    except OSError as exc:
        raise RosterError(f"Cannot read {file}: {exc.strerror or exc}.", "no-file") from None
    text, _ = decode_text(data)
    seen: dict[str, None] = {}
    for row in csv.reader(text.splitlines(), delimiter=sniff_delimiter(text)):
        for value in row:
            value = value.strip()
            if "@" in value and " " not in value:
                seen.setdefault(value, None)
    return list(seen)
