"""Phone numbers: everything inside Hudhud is E.164 ("+201001234567")."""

from __future__ import annotations

import phonenumbers

from hudhud.errors import InvalidPhone


def normalize(raw: str, default_region: str = "EG") -> str:
    """Parse a number written in E.164 or in the national format of `default_region`.

    Raises InvalidPhone for anything that is not a valid, dialable number.
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 32:
        raise InvalidPhone("phone number is empty or too long")
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"cannot parse phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
