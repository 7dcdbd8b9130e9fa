"""regtui.core.emailcheck copies two lists from email-validator (so that a plan need not import it): they must match."""

import email_validator
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from regtui.core import emailcheck as emails


def test_special_use_domains_match_email_validator():
    assert emails._SPECIAL_USE == frozenset(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def test_role_mailboxes_match_email_validator():
    assert emails._ROLE_NAMES == frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
