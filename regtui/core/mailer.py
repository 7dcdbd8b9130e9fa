"""Transports for ``outbox.deliver``: an SMTP server, or a local Maildir when none is configured."""

from __future__ import annotations

import datetime as dt
import mailbox
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, unquote, urlsplit

import idna

from regtui import config
from regtui.core.errors import UsageError
from regtui.core.models import OutboxEmail
from regtui.core.services.outbox import PermanentFailure, TemporaryFailure, Unreachable

DEFAULT_FROM = "regtui <noreply@localhost>"
SMTP_URL_FORM = "smtp://[user:pass@]host:port[?starttls=1&timeout=10]"


def ascii_address(address: str) -> str:
    """``address`` with an internationalised domain as punycode (IDNA 2008, UTS #46), when its
    local part is ASCII: ``user@bücher.example`` -> ``user@xn--bcher-kva.example``, which any
    server takes. A non-ASCII local part has no ASCII form: it stays, and needs SMTPUTF8."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii() or not local.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError as exc:
        raise PermanentFailure(f"the domain of {address} cannot be written in ASCII: {exc}") from None


def build_message(email: OutboxEmail) -> EmailMessage:
    """The email as sent; Date is when it was queued, so every attempt sends the same message."""
    try:
        msg = EmailMessage()
        msg["From"] = os.environ.get("REGTUI_MAIL_FROM") or DEFAULT_FROM
        msg["To"] = ascii_address(email.to)
        msg["Subject"] = email.subject
        msg["Message-ID"] = email.message_id
        msg["Date"] = format_datetime(email.created_at.replace(tzinfo=dt.timezone.utc))
        msg.set_content(email.body)
    except (ValueError, TypeError) as exc:
        raise PermanentFailure(f"cannot build this email: {exc}") from None
    return msg


def _reply_text(code: int, message: bytes | str) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return f"{code} {message}"


class SmtpTransport:
    def __init__(self, url: str):
        self.host, self.port, self.user, self.password, self.starttls, self.timeout = _parse_smtp_url(url)
        self._smtp: smtplib.SMTP | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def describe(self) -> str:
        extras = [x for x in ("STARTTLS" if self.starttls else "", f"as {self.user}" if self.user else "") if x]
        return f"SMTP server {self.address}" + (f" ({', '.join(extras)})" if extras else "")

    def _connect(self) -> smtplib.SMTP:
        """Problems here (unreachable, TLS, wrong login) concern every email alike, so they
        are raised as temporary with an OSError cause: ``deliver`` stops the run and
        nothing is marked failed because of the configuration."""
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except OSError as exc:
            raise Unreachable(f"cannot reach the mail server at {self.address}: {exc}") from exc
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            reply = _reply_text(exc.smtp_code, exc.smtp_error)
            raise Unreachable(f"the mail server at {self.address} refused the login: {reply}") from exc
        except OSError as exc:
            smtp.close()
            raise Unreachable(f"cannot set up a session with the mail server at {self.address}: {exc}") from exc
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def send(self, email: OutboxEmail) -> None:
        msg = build_message(email)
        if self._smtp is None or self._smtp.sock is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()))
            self._rejected(code, message, exc)
        except smtplib.SMTPResponseException as exc:
            self._rejected(exc.smtp_code, exc.smtp_error, exc)
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentFailure(f"the mail server at {self.address} cannot take this email ({exc}): an address "
                                   "whose part before the @ is not ASCII needs a server with SMTPUTF8") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise Unreachable(f"cannot reach the mail server at {self.address}: {exc}") from exc

    def _rejected(self, code: int, message: bytes | str, exc: Exception) -> NoReturn:
        reply = _reply_text(code, message)
        if code == 421:
            # The server is closing the connection: stop this run, as for an unreachable server.
            self._drop()
            raise Unreachable(reply) from exc
        if 500 <= code < 600:
            raise PermanentFailure(reply) from None
        raise TemporaryFailure(reply) from None

    def close(self) -> None:
        if self._smtp is None:
            return
        try:
            self._smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self._drop()


def _parse_smtp_url(url: str) -> tuple[str, int, str | None, str | None, bool, float]:
    parts = urlsplit(url)

    def bad(why: str) -> UsageError:
        shown = url.replace(f":{parts.password}@", ":***@") if parts.password else url
        return UsageError(f"REGTUI_SMTP={shown!r} is not a valid mail server URL ({why}); use {SMTP_URL_FORM}.")

    if parts.scheme != "smtp":
        raise bad("it must start with smtp://")
    if not parts.hostname:
        raise bad("the host is missing")
    try:
        port = 25 if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not port:
        raise bad("the port must be a number from 1 to 65535")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise bad("the options after ? cannot be read") from None
    unknown = set(query) - {"starttls", "timeout"}
    if unknown:
        raise bad(f"unknown option {sorted(unknown)[0]!r}")
    starttls_text = query.get("starttls", ["0"])[-1].lower()
    if starttls_text not in ("0", "1", "true", "false", "yes", "no", ""):
        raise bad("starttls must be 1 or 0")
    try:
        timeout = float(query.get("timeout", ["10"])[-1])
    except ValueError:
        raise bad("timeout must be a number of seconds") from None
    if not timeout > 0:
        raise bad("timeout must be a number of seconds above zero")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not user:
        raise bad("a password needs a user name")
    return parts.hostname, port, user, password, starttls_text in ("1", "true", "yes"), timeout


class MaildirTransport:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._box: mailbox.Maildir | None = None

    def describe(self) -> str:
        return f"Maildir at {self.path} (no REGTUI_SMTP set)"

    def send(self, email: OutboxEmail) -> None:
        msg = build_message(email)
        try:
            with config.owner_only():  # the messages hold live links: 0600 in 0700 folders
                if self._box is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._box = mailbox.Maildir(self.path, create=True)
                self._box.add(msg)
        except OSError as exc:
            raise Unreachable(f"cannot write to the Maildir at {self.path}: {exc}") from exc

    def close(self) -> None:
        self._box = None


def transport_from_config() -> SmtpTransport | MaildirTransport:
    url = config.smtp_url()
    return SmtpTransport(url) if url else MaildirTransport(config.maildir_path())


def describe() -> str:
    """Where mail goes with the current configuration; connects to nothing."""
    return transport_from_config().describe()

