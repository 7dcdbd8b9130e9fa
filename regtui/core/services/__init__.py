"""Domain services: one module per glossary word. Faces call these; these hold the rules.

Every write checks the operator's role (``operators.require``), keeps the seat invariant,
and writes its audit events and outbox emails inside the same transaction.
"""
