"""Sending one mail over SMTP (none / STARTTLS / implicit TLS, optional login), answering with
the server's own words: the reply to the message on success, the refusal or the connection
problem otherwise. Used by the mail task and the page's "send test mail" button."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid

from events.models import TLS_IMPLICIT, TLS_STARTTLS, MailSettings
from events.secret import decrypt

TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: str
    username: str
    password: str
    sender: str

    @classmethod
    def of(cls, row: MailSettings, password: str | None = None) -> Server:
        """The row's server; ``password`` None: the stored (decrypted) one."""
        return cls(
            host=row.host,
            port=int(row.port),
            tls=row.tls,
            username=row.username,
            password=decrypt(row.password_encrypted) if password is None else password,
            sender=row.sender,
        )


class MailError(Exception):
    """The mail was not accepted. ``temporary``: worth another try later (connection, 4xx)."""

    def __init__(self, message: str, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


def _text(raw: bytes | str) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).replace("\n", " ").strip()


def _connect(server: Server) -> smtplib.SMTP:
    context = ssl.create_default_context()
    conn: smtplib.SMTP
    if server.tls == TLS_IMPLICIT:
        conn = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_S, context=context)
    else:
        conn = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_S)
    try:
        conn.ehlo()
        if server.tls == TLS_STARTTLS:
            conn.starttls(context=context)
            conn.ehlo()
        if server.username:
            conn.login(server.username, server.password)
    except BaseException:
        conn.close()
        raise
    return conn


def message(sender: str, recipients: list[str], subject: str, body: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(body)
    return msg


def send(server: Server, recipients: list[str], subject: str, body: str) -> str:
    """Send one mail; the server's reply to it ("250 ...") or MailError with the reason."""
    try:
        conn = _connect(server)
        try:
            code, reply = conn.mail(server.sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, server.sender)
            for recipient in recipients:
                code, reply = conn.rcpt(recipient)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
            code, reply = conn.data(message(server.sender, recipients, subject, body).as_bytes())
        finally:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"login refused: {exc.smtp_code} {_text(exc.smtp_error)}", temporary=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(f"{who}: {code} {_text(text)}" for who, (code, text) in exc.recipients.items())
        codes = [code for code, _text_ in exc.recipients.values()]
        raise MailError(f"recipient refused: {refused}", temporary=all(400 <= c < 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{exc.smtp_code} {_text(exc.smtp_error)}", temporary=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"the server does not support this: {exc}", temporary=False) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise MailError(f"the server closed the connection: {exc}", temporary=True) from None
    except ssl.SSLError as exc:
        raise MailError(f"TLS failed: {exc.reason or exc}", temporary=False) from None
    except TimeoutError:
        raise MailError(
            f"no answer from {server.host}:{server.port} within {TIMEOUT_S:.0f} s", temporary=True
        ) from None
    except OSError as exc:
        raise MailError(
            f"cannot connect to {server.host}:{server.port}: {exc.strerror or exc}", temporary=True
        ) from None
    except smtplib.SMTPException as exc:
        raise MailError(str(exc), temporary=False) from None
    return f"{code} {_text(reply)}"
