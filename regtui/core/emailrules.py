"""Which email addresses regtui accepts, and when two addresses are the same learner.

Kept free of heavy imports: the roster engine reads these without loading email-validator.
"""

# Pinned so that a module-level setting elsewhere (email_validator.TEST_ENVIRONMENT = True, ...)
# cannot change what regtui accepts; no DNS look-ups.
VALIDATOR_OPTIONS = dict(
    check_deliverability=False,
    allow_smtputf8=True,
    allow_empty_local=False,
    allow_quoted_local=False,
    allow_domain_literal=False,
    allow_display_name=False,
    strict=False,
    test_environment=False,
    globally_deliverable=True,
)


def identity_key(normalized: str) -> str:
    """One learner per key: the normalised address (email-validator's form), case-insensitively."""
    return normalized.lower()
