"""`regtui export pool POOL FILE` and `regtui export users CUSTOMER FILE`: a pool's codes with
their holders, or a customer's users, to an .xlsx or .csv file (the format from the suffix)."""

from __future__ import annotations

import argparse

from regtui.cli.common import setup
from regtui.core.words import plural


def cmd_export_pool(args: argparse.Namespace) -> int:
    from regtui.core.services import exports, pools

    target = exports.target_file(args.file)
    actor = setup(args)
    pool = pools.get(actor, args.pool)
    n = exports.write(target, exports.pool_table(actor, pool))
    print(f"Wrote {plural(n, 'code')} of pool {pool.id} to {target}.")
    return 0


def cmd_export_users(args: argparse.Namespace) -> int:
    from regtui.core.services import customers, exports

    target = exports.target_file(args.file)
    actor = setup(args)
    customer = customers.find(args.customer)
    n = exports.write(target, exports.customer_table(actor, customer))
    print(f"Wrote {plural(n, 'user')} of {customer.name} to {target}.")
    return 0
