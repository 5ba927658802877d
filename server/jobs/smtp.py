"""Handing messages to an SMTP server: one connection for a run of many messages.

Owns the ``SMTP_*`` settings' meaning: TLS from the first byte (``SMTP_SSL``) or an upgrade
(``SMTP_STARTTLS``), both with the certificate checked, and a login when ``SMTP_USERNAME`` is
set; ``MAIL_FROM``'s address is the envelope sender. It tells apart what stops a run (the
server cannot be reached, refuses the login or the sender: :class:`MailError`, one line for
people) from what concerns one message (its recipient or its content refused:
:class:`Refused`). Built on the standard library's ``smtplib``.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

TIMEOUT = 30.0


class MailError(RuntimeError):
    """The SMTP server cannot be reached, or refuses to take mail: the run stops. ``sent``:
    how many messages the run had handed over before (the caller sets it)."""

    sent = 0


class Refused(RuntimeError):
    """The SMTP server refused one message (its recipient, or its content): that user only."""


class Mailer:
    """One SMTP connection for a run, opened at the first message (SSL, STARTTLS and login as
    the settings say) and opened again once if the server dropped it between messages."""

    def __init__(self, config: Mapping[str, Any]):
        self.sender = parseaddr(str(config["MAIL_FROM"]))[1]
        self.host = str(config["SMTP_HOST"])
        self.port = int(config["SMTP_PORT"])
        self.use_ssl = bool(config["SMTP_SSL"])
        self.starttls = bool(config["SMTP_STARTTLS"])
        self.username = config.get("SMTP_USERNAME")
        self.password = config.get("SMTP_PASSWORD")
        self._smtp: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=TIMEOUT, context=context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
            try:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(str(self.username), str(self.password or ""))
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as error:
            raise MailError(
                f"the SMTP server {self.where} refused the login: {_said(error)}"
            ) from None
        except smtplib.SMTPNotSupportedError as error:
            raise MailError(f"the SMTP server {self.where} cannot do that: {error}") from None
        except smtplib.SMTPResponseException as error:
            raise MailError(f"the SMTP server {self.where} refused us: {_said(error)}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise MailError(
                f"cannot reach the SMTP server {self.where}: {_reason(error)}"
            ) from None
        return smtp

    def send(self, to: str, message: bytes) -> None:
        """Hand one message to the server; :class:`Refused` if it refuses this message,
        :class:`MailError` if it cannot be reached or refuses all mail."""
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.sendmail(self.sender, [to], message)
                return
            except smtplib.SMTPRecipientsRefused as error:
                said = "; ".join(
                    f"{code} {_text(text)}" for code, text in error.recipients.values()
                )
                raise Refused(said) from None
            except smtplib.SMTPDataError as error:
                raise Refused(_said(error)) from None
            except smtplib.SMTPSenderRefused as error:
                self.close()
                raise MailError(
                    f"the SMTP server {self.where} refuses mail from {error.sender}: {_said(error)}"
                ) from None
            except (smtplib.SMTPServerDisconnected, ConnectionError) as error:
                self._smtp = None  # dropped between messages: open again, once
                if attempt == 2:
                    raise MailError(
                        f"the SMTP server {self.where} closed the connection: {_reason(error)}"
                    ) from None
            except (smtplib.SMTPException, OSError) as error:
                self.close()
                raise MailError(f"sending through {self.where} failed: {_reason(error)}") from None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _said(error: smtplib.SMTPResponseException) -> str:
    return f"{error.smtp_code} {_text(error.smtp_error)}".strip()


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
