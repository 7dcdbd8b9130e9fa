"""The command line: parse, call a service, print. No rules live here.

Exit codes: 0 done; 1 refused by a rule (nothing changed); 2 usage or unreadable input;
3 not allowed for this operator. Errors are one sentence on stderr.

``commands`` and ``batch_commands`` hold the handlers, ``common`` what they share, ``parser`` which
command runs which handler.
"""

from regtui.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
