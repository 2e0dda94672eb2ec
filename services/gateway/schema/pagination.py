"""Opaque Relay cursors and page-size rules."""

import base64
import binascii

from bson import ObjectId
from bson.errors import InvalidId

from services.gateway.schema.errors import bad_input

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_PREFIX = "d1:"


def encode_cursor(document_id: ObjectId) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{document_id}".encode()).decode()


def decode_cursor(cursor: str) -> ObjectId:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not raw.startswith(_PREFIX):
            raise ValueError(raw)
        return ObjectId(raw.removeprefix(_PREFIX))
    except (ValueError, binascii.Error, InvalidId, UnicodeDecodeError):
        raise bad_input(f"'{cursor}' is not a cursor this API issued") from None


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise bad_input(f"first must be between 1 and {MAX_PAGE_SIZE}; got {first}")
    return first
