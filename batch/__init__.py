"""The roster batch engine: reading and validating rosters (this package's readers, schema,
validate, emails), planning and applying them. No Textual, no faces: see DESIGN.md "Layers".

The planner's entry point::

    from batch import read_roster
    roster = read_roster("people.xlsx", default_pool="1001-1")
    roster.rows, roster.errors, roster.warnings, roster.raw
"""

from batch.errors import RosterError, RowError
from batch.readers import Limits, RawRoster, RawRow
from batch.roster import RosterRows, read_roster
from batch.validate import ValidRow

__all__ = [
    "Limits",
    "RawRoster",
    "RawRow",
    "RosterError",
    "RosterRows",
    "RowError",
    "ValidRow",
    "read_roster",
]
