"""Citizen feedback (the 1022 portal): the checks on its fields and what becomes of personal data.

Personal data is never stored in clear. A citizen's phone number and e-mail address, when sent,
become keyed hashes (HMAC-SHA256 with the deployment's secret, ``citizen_hash_secret``) so that a
unit can recognise a repeat submitter without the database revealing who it is; without the
secret they are dropped. The name is always dropped: it identifies nobody reliably and a hash of
a name is easy to guess. The text itself is stored as written, as for every document.
"""

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

from services.common.validation import FieldViolation

MAX_EXTERNAL_ID_CHARS = 200
# GSO codes of commune-level units (wards, communes, special zones) have five digits, both in the
# structure before 1 July 2025 and in the current one.
_WARD_CODE = re.compile(r"^\d{5}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class CitizenContact:
    name: str | None = None
    phone: str | None = None
    email: str | None = None


# The hook for the city's list of administrative units: given a well-formed code, whether such a
# ward exists (in either structure). None until the locality data file is wired in here; then
# unknown codes are refused as well as malformed ones.
type WardCodeExists = Callable[[str], bool]


def ward_code_violations(
    code: str, *, exists: WardCodeExists | None = None
) -> list[FieldViolation]:
    """Why ``code`` is not a commune-level GSO code, if it is not."""
    if not _WARD_CODE.match(code):
        return [
            FieldViolation(
                "wardCode", "INVALID", f"{code!r} is not a ward code: five digits, e.g. 26740"
            )
        ]
    if exists is not None and not exists(code):
        return [FieldViolation("wardCode", "NOT_FOUND", f"no ward has the code {code}")]
    return []


def external_id_violations(external_id: str) -> list[FieldViolation]:
    field = "externalId"
    if not external_id.strip():
        return [FieldViolation(field, "REQUIRED", "externalId must not be empty")]
    if len(external_id) > MAX_EXTERNAL_ID_CHARS:
        return [
            FieldViolation(
                field, "TOO_LONG", f"externalId is longer than {MAX_EXTERNAL_ID_CHARS} characters"
            )
        ]
    if any(not ch.isprintable() for ch in external_id):
        return [FieldViolation(field, "INVALID", "externalId must be printable text")]
    return []


def normalized_phone(phone: str) -> str | None:
    """Vietnamese numbers in one form (0 and the national number), or None if it is not one."""
    digits = re.sub(r"[\s.()-]", "", phone)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if re.fullmatch(r"0\d{9,10}", digits) else None


def contact_violations(contact: CitizenContact) -> list[FieldViolation]:
    """Why the contact's phone or e-mail is malformed; fields are paths like citizen.phone."""
    found = []
    if contact.phone and normalized_phone(contact.phone) is None:
        found.append(
            FieldViolation("citizen.phone", "INVALID", "phone is not a Vietnamese phone number")
        )
    if contact.email and not _EMAIL.match(contact.email.strip()):
        found.append(FieldViolation("citizen.email", "INVALID", "email is not an e-mail address"))
    return found


def citizen_keys(contact: CitizenContact, secret: bytes) -> list[str]:
    """Keyed hashes of the contact's phone and e-mail; empty without a secret."""
    if not secret:
        return []
    keys = []
    phone = normalized_phone(contact.phone) if contact.phone else None
    if phone:
        keys.append("phone:" + hmac.new(secret, phone.encode(), hashlib.sha256).hexdigest())
    if contact.email:
        email = contact.email.strip().lower()
        keys.append("email:" + hmac.new(secret, email.encode(), hashlib.sha256).hexdigest())
    return keys
