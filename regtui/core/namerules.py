"""How long a learner's name may be: one rule for the services (``learners.check_names``, which
refuses) and the roster validator (a row error in the plan, so a plan never shows as applicable
a row its apply would refuse). Free of imports, like ``emailrules``."""

MAX_NAME = 100  # characters, after trimming spaces


def too_long(name: str) -> bool:
    return len(name.strip()) > MAX_NAME
