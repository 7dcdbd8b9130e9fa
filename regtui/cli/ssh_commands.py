"""The SSH front door: `regtui ssh keys` (sshd's AuthorizedKeysCommand) and `regtui ssh session`
(the forced command every key gets).

OpenSSH authenticates the key; regtui decides who it is. sshd runs
``regtui ssh keys --fingerprint %f`` for each key a client offers, and regtui prints one
authorized_keys line for a known key: ``command="... regtui ssh session --key FP",restrict,pty``.
Whatever the client asks to run then arrives in ``SSH_ORIGINAL_COMMAND`` and is parsed here
without a shell (shlex) against a fixed list: no option that picks another operator or database,
no path on the server, only ``-`` for files (the roster on standard input, a report or template
on standard output). With a terminal and no command, the session is the TUI.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import sys
import tempfile
from pathlib import Path

from regtui import config
from regtui.core.errors import UsageError

# The variables a forced command needs to find the same installation as the keys command.
# Not REGTUI_SMTP (a session only writes the outbox) and never a password in REGTUI_DB:
# the command line of a process is readable by every local user (use ~/.pgpass).
CARRIED_ENV = ("REGTUI_HOME", "REGTUI_DB", "REGTUI_SECRET_KEY_FILE", "REGTUI_SITE_URL", "REGTUI_MAIL_FROM", "REGTUI_NOW")

ROSTER_OPTIONS = {"--pool": 1, "--json": 0, "--action": 1, "--sync": 0, "--max-revoke": 1, "--skip-invalid": 0,
                  "--date-format": 1, "--sheet": 1}
# command words -> (options with how many values they take, the positional arguments' names)
# the long lists read a page at a time; a cursor is sealed to its list (regtui.core.paging)
PAGING_OPTIONS = {"--limit": 1, "--after": 1, "--json": 0}
ALLOWED: dict[tuple[str, ...], tuple[dict[str, int], tuple[str, ...]]] = {
    ("pools",): ({"--customer": 1, "--json": 0}, ()),
    ("orders",): ({"--customer": 1, "--search": 1, **PAGING_OPTIONS}, ()),
    ("registrations",): ({"--search": 1, **PAGING_OPTIONS}, ("POOL",)),
    ("invites",): (PAGING_OPTIONS, ("POOL",)),
    ("audit",): ({"--operator": 1, "--batch": 1, "--record": 1, **PAGING_OPTIONS}, ()),
    ("batch", "plan"): ({**ROSTER_OPTIONS, "--report": 1}, ("-",)),
    ("batch", "apply"): ({**ROSTER_OPTIONS, "--yes": 0}, ("-",)),
    ("batch", "template"): ({}, ("-",)),
    ("batch", "history"): ({"--search": 1, **PAGING_OPTIONS}, ()),
}
WHAT_IS_ALLOWED = (
    "Over SSH you can run: pools, orders, registrations POOL, invites POOL, audit, "
    "batch plan - --pool P [--report -], batch apply - --pool P --yes, batch template -, batch history "
    "(with --json where the command has it, and --limit N --after CURSOR on the lists; - is the roster on standard input, or the file on standard output), "
    "or connect with a terminal and no command for the TUI."
)


def register(sub: argparse._SubParsersAction, add) -> None:
    ssh = sub.add_parser("ssh", help="the SSH front door (run by sshd, not by people)",
                         description="the SSH front door: sshd's AuthorizedKeysCommand and the forced command")
    cmds = ssh.add_subparsers(dest="ssh_cmd", metavar="keys|session", required=True)
    sp = add("keys", cmd_ssh_keys, "print the authorized_keys line for a key (sshd: --fingerprint %%f)", parent=cmds)
    sp.add_argument("--fingerprint", required=True, help="the key's SHA256 fingerprint, as sshd's %%f gives it")
    sp = add("session", cmd_ssh_session, "the forced command: act as the key's operator", parent=cmds)
    sp.add_argument("--key", required=True, help="the key's SHA256 fingerprint")


# --- regtui ssh keys ------------------------------------------------------------------------------

def _open_database() -> None:
    from regtui.cli.common import require_database_file
    from regtui.core import db

    require_database_file(config.database_url())
    db.open_database(config.database_url())
    db.require_schema()


def forced_command(fingerprint: str) -> str:
    """The command sshd runs for this key: this same regtui, with this installation's settings."""
    from urllib.parse import urlsplit

    env = []
    for name in CARRIED_ENV:
        value = os.environ.get(name)
        if not value:
            continue
        if name == "REGTUI_DB" and urlsplit(value).password:
            print("regtui: REGTUI_DB holds a password, which is left out of the forced command "
                  "(put it in the service user's ~/.pgpass).", file=sys.stderr)
            parts = urlsplit(value)
            value = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", "@", 1)).geturl()
        env.append(f"{name}={value}")
    words = (["env", *env] if env else []) + [sys.executable, "-m", "regtui", "ssh", "session", "--key", fingerprint]
    line = " ".join(shlex.quote(w) for w in words)
    if any(ch in line for ch in '"\\\n\r'):
        raise UsageError("The installation's paths hold a double quote, backslash or newline, which a forced command cannot carry.")
    return line


def cmd_ssh_keys(args: argparse.Namespace) -> int:
    """One authorized_keys line for a known key, or nothing (sshd then refuses the key)."""
    from regtui.core.services import keys

    if not keys.FINGERPRINT.fullmatch(args.fingerprint or ""):
        return 0  # not a fingerprint regtui ever stores: no key
    _open_database()
    row = keys.find(args.fingerprint)
    if row is None:
        return 0
    print(f'command="{forced_command(row.fingerprint)}",restrict,pty {row.key_type} {row.key_base64} regtui:{row.operator.name}')
    return 0


# --- regtui ssh session ---------------------------------------------------------------------------

def allowed_argv(original: str) -> list[str]:
    """The words of the client's command if it is on the list, else UsageError naming what is."""
    try:
        words = shlex.split(original, comments=False, posix=True)
    except ValueError:
        raise UsageError(f"The command could not be read (an unclosed quote). {WHAT_IS_ALLOWED}") from None
    if any(w.startswith(("--as", "--db")) for w in words):
        raise UsageError(f"Over SSH you act as your key's operator on this installation's database: --as and --db are not allowed. {WHAT_IS_ALLOWED}")
    head = tuple(words[:2]) if words[:1] == ["batch"] else tuple(words[:1])
    if head not in ALLOWED:
        raise UsageError(f"{' '.join(head)[:60]!r} is not something you can run here. {WHAT_IS_ALLOWED}" if head
                         else WHAT_IS_ALLOWED)
    options, positionals = ALLOWED[head]
    given: list[str] = []
    rest = words[len(head):]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            if name not in options:
                raise UsageError(f"{name[:40]!r} is not an option of {' '.join(head)} over SSH. {WHAT_IS_ALLOWED}")
            i += 1 if "=" in word or options[name] == 0 else 2
            continue
        given.append(word)
        i += 1
    if len(given) != len(positionals) or any(p == "-" and g != "-" for p, g in zip(positionals, given)):
        wanted = " ".join(positionals) or "no other arguments"
        raise UsageError(f"{' '.join(head)} over SSH takes {wanted}: files come on standard input (-), "
                         f"never from a path on the server. {WHAT_IS_ALLOWED}")
    return words


def _run(argv: list[str], actor) -> int:
    """Parse ``argv`` with the local command line's parser and run it as ``actor``."""
    from regtui.cli.parser import build_parser, run

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # the parser has printed its one sentence
        return exc.code if isinstance(exc.code, int) else 2
    args.actor, args.db, args.as_name = actor, None, None
    return run(args)


def _batch(argv: list[str], actor) -> int:
    """`batch plan|apply -` read the roster from standard input as the local command does; a report
    or template asked for as `-` is written in a private folder and sent back on standard output."""
    with tempfile.TemporaryDirectory(prefix="regtui-ssh-") as tmp:
        folder = Path(tmp)
        argv = list(argv)
        out_file: Path | None = None
        if argv[1] == "template":
            out_file = folder / "roster-template.xlsx"
            argv[argv.index("-")] = str(out_file)
        else:
            report = _option_value(argv, "--report")
            if report is not None:
                if report != "-":
                    raise UsageError(f"--report over SSH takes -, the report on standard output. {WHAT_IS_ALLOWED}")
                out_file = folder / "report.xlsx"
                _set_option_value(argv, "--report", str(out_file))
        if out_file is None:
            return _run(argv, actor)
        # the file goes to standard output, so what the command prints goes to standard error
        said = io.StringIO()
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            code = _run(argv, actor)
        sys.stderr.write(said.getvalue().replace(str(folder) + os.sep, "").replace(str(out_file.name), "standard output"))
        if out_file.exists():
            sys.stdout.flush()
            out = _raw(sys.stdout)
            out.flush()
            out.buffer.write(out_file.read_bytes())
            out.flush()
        return code


def _option_value(argv: list[str], name: str) -> str | None:
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _set_option_value(argv: list[str], name: str, value: str) -> None:
    for i, word in enumerate(argv):
        if word == name:
            argv[i + 1] = value
            return
        if word.startswith(name + "="):
            argv[i] = f"{name}={value}"
            return


def _raw(stream):
    """The stream under the CLI's control-character escaping (``common.EscapingStream``): the TUI
    draws the screen itself, and a report or template is bytes."""
    return getattr(stream, "raw", stream)


def cmd_ssh_session(args: argparse.Namespace) -> int:
    from regtui.core import db
    from regtui.core.services import keys

    fingerprint = keys.check_fingerprint(args.key)
    _open_database()
    actor = keys.actor_for_key(fingerprint)
    db.close()
    original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    if not original.strip():
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError(f"No terminal: connect with `ssh -t` for the TUI. {WHAT_IS_ALLOWED}")
        escaping = sys.stdout, sys.stderr
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = _raw(sys.stdout), _raw(sys.stderr)
        try:
            code = _run([], actor)
        finally:
            sys.stdout, sys.stderr = escaping
        shown = "(the TUI)"
    else:
        shown = original
        try:
            argv = allowed_argv(original)
        except UsageError as exc:
            print(f"regtui: {exc}", file=sys.stderr)
            code = exc.exit_code
        else:
            if argv[0] == "batch" and argv[1] in ("plan", "apply", "template"):
                code = _guarded(_batch, argv, actor)
            else:
                code = _run(argv, actor)
    _open_database()
    keys.record_ssh_command(actor, fingerprint, shown, code)
    return code


def _guarded(step, argv: list[str], actor) -> int:
    """Run a step of this module, mapping regtui's errors to one sentence and an exit code."""
    from regtui.core.errors import RegtuiError

    try:
        return step(argv, actor)
    except RegtuiError as exc:
        print(f"regtui: {exc}", file=sys.stderr)
        return exc.exit_code
