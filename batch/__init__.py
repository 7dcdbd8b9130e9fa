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
    "Plan",
    "Change",
    "PlanError",
    "make_plan",
    "apply_plan",
    "write_report",
]

# planning, applying and reports, imported on first use (they bring in the services)
_LAZY = {"Plan": "batch.plan", "Change": "batch.plan", "PlanError": "batch.plan", "make_plan": "batch.planner",
         "apply_plan": "batch.apply", "write_report": "batch.report"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'batch' has no attribute {name!r}")
