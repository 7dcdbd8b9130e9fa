"""An operator's ways in: `regtui operators key add|list|remove`, `operators password`, `operators totp`."""

from __future__ import annotations

import argparse
import getpass
import sys

from regtui.cli.common import emit, print_table, setup
from regtui.core.errors import UsageError


def register(ops: argparse._SubParsersAction, add) -> None:
    """The `operators key ...`, `operators password` and `operators totp` commands."""
    key = ops.add_parser("key", help="operators' SSH keys (admins)", description="operators' SSH keys (admins)")
    keys = key.add_subparsers(dest="key_cmd", metavar="add|list|remove", required=True)
    sp = add("add", cmd_key_add, "give an operator an SSH public key: key add NAME PUBKEY_FILE", parent=keys)
    sp.add_argument("name", metavar="NAME", help="the operator's login name")
    sp.add_argument("pubkey_file", help="the .pub file (ssh-keygen's), or - for standard input")
    sp.add_argument("--comment", help="a note shown in `key list` (default: the key file's comment)")
    sp = add("list", cmd_key_list, "operators' keys with their fingerprints", json_flag=True, parent=keys)
    sp.add_argument("name", metavar="NAME", nargs="?", help="only this operator's keys")
    sp = add("remove", cmd_key_remove, "remove a key: key remove SHA256:...", parent=keys)
    sp.add_argument("fingerprint", help="the key's fingerprint, SHA256:... as `key list` shows it")

    sp = add("password", cmd_password, "set an operator's password for the roster page (/staff)", parent=ops)
    sp.add_argument("name", metavar="NAME", help="the operator's login name")
    sp.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sp = add("totp", cmd_totp, "give an operator a TOTP second factor for the roster page", parent=ops)
    sp.add_argument("name", metavar="NAME", help="the operator's login name")
    sp.add_argument("--off", action="store_true", help="remove the second factor")


def _read_key_file(path: str) -> str:
    from regtui.core.services.keys import KEY_FILE_MAX

    try:
        if path == "-":
            data = sys.stdin.buffer.read(KEY_FILE_MAX + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(KEY_FILE_MAX + 1)
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    if len(data) > KEY_FILE_MAX:
        raise UsageError(f"{path} is larger than a public key file can be ({KEY_FILE_MAX // 1024} KiB).")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a public key file (it is not plain ASCII text).") from None


def cmd_key_add(args: argparse.Namespace) -> int:
    from regtui.core.services import keys

    actor = setup(args)
    row = keys.add_key(actor, args.name, _read_key_file(args.pubkey_file), args.comment)
    print(f"{row.fingerprint} ({row.key_type}) is now {args.name}'s key.")
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    from regtui.core.services import keys

    data = keys.list_keys(setup(args), args.name)
    return emit(args, data, lambda: print_table(
        [(d["operator"], d["fingerprint"], d["type"], d["comment"], d["added"]) for d in data],
        ["operator", "fingerprint", "type", "comment", "added"]))


def cmd_key_remove(args: argparse.Namespace) -> int:
    from regtui.core.services import keys

    gone = keys.remove_key(setup(args), args.fingerprint)
    print(f"{gone['fingerprint']} is no longer {gone['operator']}'s key.")
    return 0


def _new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError("No terminal to ask on: give --password-stdin and the password on standard input.")
        password = getpass.getpass("New password: ")
        if getpass.getpass("The same again: ") != password:
            raise UsageError("The two passwords are not the same; nothing was changed.")
    if not password:
        raise UsageError("The password is empty; nothing was changed.")
    return password


def cmd_password(args: argparse.Namespace) -> int:
    from regtui.core.services import staff

    actor = setup(args)
    staff.set_password(actor, args.name, _new_password(args))
    print(f"{args.name} can now sign in on the roster page (/staff/signin).")
    return 0


def cmd_totp(args: argparse.Namespace) -> int:
    from regtui.core.services import staff

    actor = setup(args)
    if args.off:
        staff.disable_totp(actor, args.name)
        print(f"{args.name} signs in with a password only.")
        return 0
    uri = staff.enable_totp(actor, args.name)
    print(f"Add this to {args.name}'s authenticator app (it is shown once):\n{uri}")
    return 0
