"""`regtui tick`: one run of the scheduler (dates that happen), for cron or a systemd timer."""

from __future__ import annotations

import argparse

from regtui.cli.common import emit, setup
from regtui.core.words import plural


def register(add) -> None:
    """Add `tick` with the parser's ``add(name, handler, help, json_flag)``."""
    sp = add("tick", cmd_tick, "run the scheduler once: expire invitations, start and end accesses, send reminders "
                               "and the outbox (for cron or a systemd timer)", json_flag=True)
    sp.add_argument("--no-mail", action="store_true", help="queue the reminders but do not deliver the outbox")


def cmd_tick(args: argparse.Namespace) -> int:
    from regtui.core.services import scheduler

    setup(args)
    report = scheduler.tick(deliver_mail=not args.no_mail)

    def human() -> None:
        if not report.ran:
            print("Another scheduler is running; nothing done.")
            return
        print(f"Expired {plural(report.expired, 'invitation')}; {plural(report.started, 'access', 'accesses')} started, "
              f"{report.ended} ended; reminders: {plural(report.ending_reminders, 'access end')}, "
              f"{plural(report.unclaimed_reminders, 'unclaimed invitation')}"
              + (f"; mail sent {report.mail['sent']}, to retry {report.mail['retry']}, failed {report.mail['failed']}."
                 if report.mail else "."))
    return emit(args, report.as_dict(), human)
