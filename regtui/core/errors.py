"""Errors every face shows as one sentence; the exit code is part of the CLI contract."""


class RegtuiError(Exception):
    """A failure the user caused or can fix. ``str(err)`` is the sentence to show."""

    exit_code = 1


class Refused(RegtuiError):
    """A rule said no (no seats, stale plan, invalid data). Nothing was changed."""

    exit_code = 1

    def __init__(self, message: str, code: str = "refused"):
        super().__init__(message)
        self.code = code


class UsageError(RegtuiError):
    """The request cannot be understood: unknown names, unreadable input."""

    exit_code = 2


class NotFound(UsageError):
    pass


class NotAllowed(RegtuiError):
    """The operator's role does not allow this action."""

    exit_code = 3
