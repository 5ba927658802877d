"""The checks on a user's own settings before they are stored: the email address digests go to
and how often (``digest``: off, daily or weekly).

One place for ``PUT /api/v1/settings`` and ``nextpaper users set``, so both accept and refuse
the same things with the same words. Addresses are checked by ``email-validator`` (syntax and
domain rules, no DNS look-up: a self-hosted server may have no resolver) and stored in their
ASCII form, which any SMTP server accepts.
"""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email

from .validation import Invalid

DIGESTS = ("off", "daily", "weekly")
SETTINGS = ("email", "digest")


def clean_email(value: Any) -> str | None:
    """An address as stored (ASCII, domain lower-cased), or None for null or empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Invalid("invalid_email", "email must be a string or null")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise Invalid("invalid_email", f"email {value[:80]!r} is not valid: {error}") from None
    return checked.ascii_email


def clean_digest(value: Any) -> str:
    if value not in DIGESTS:
        raise Invalid("invalid_digest", f"digest must be one of {', '.join(DIGESTS)}")
    return value


def updated(current: dict[str, Any], changes: Any) -> dict[str, Any]:
    """``current`` settings (``email``, ``digest``) with ``changes`` applied and checked.

    A digest needs an address: turning it on without one, or clearing the address while it is
    on, is refused rather than stored as a digest nobody can receive.
    """
    if not isinstance(changes, dict):
        raise Invalid("invalid_body", 'The body must be an object: {"email": ..., "digest": ...}.')
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise Invalid(
            "invalid_body",
            f"unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"the settings are {', '.join(SETTINGS)}",
        )
    result = {"email": current.get("email"), "digest": current.get("digest", "off")}
    if "email" in changes:
        result["email"] = clean_email(changes["email"])
    if "digest" in changes:
        result["digest"] = clean_digest(changes["digest"])
    if result["digest"] != "off" and result["email"] is None:
        raise Invalid(
            "email_required", "A digest needs an email address: set email, or digest to off."
        )
    return result
