"""`regtui share POOL`: hand out registration codes that learners redeem on the portal's /redeem page."""

from __future__ import annotations

import argparse

from regtui.cli.common import setup


def cmd_share(args: argparse.Namespace) -> int:
    from regtui.core.services import codes, pools

    actor = setup(args)
    pool = pools.get(actor, args.pool)
    if args.one:
        code = codes.share_one(actor, pool)
        print(f"{code}  (pool {pool.id}: a learner signed in at the portal redeems it on /redeem)")
        return 0
    n = codes.share(actor, pool, on=not args.off)
    print(f"{n} free codes of pool {pool.id} are {'no longer ' if args.off else ''}redeemable on /redeem.")
    return 0


def register(sub, add) -> None:
    sp = add("share", cmd_share, "let learners redeem a pool's free codes on the portal (/redeem)")
    sp.add_argument("pool", help="the pool: its id or ORDER-LINE (e.g. 1001-1)")
    group = sp.add_mutually_exclusive_group()
    group.add_argument("--one", action="store_true", help="share one free code and print it, to hand to someone")
    group.add_argument("--off", action="store_true", help="stop sharing the pool's free codes")
