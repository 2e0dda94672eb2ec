"""Opaque Relay cursors and page-size rules."""

import base64
import binascii
from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId

from services.gateway.repository import DocumentOrder, Position
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


def encode_position(order: DocumentOrder, record: dict) -> str:
    """A cursor after ``record`` in ``order``: its id, and its timeline time when that sorts."""
    parts = [order.value, str(record["_id"])]
    if order is DocumentOrder.PUBLISHED:
        parts.append(record["timeline_at"].isoformat())
    return base64.urlsafe_b64encode(("p1:" + "|".join(parts)).encode()).decode()


def decode_position(cursor: str, order: DocumentOrder) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        kind, object_id, *rest = raw.removeprefix("p1:").split("|")
        if not raw.startswith("p1:") or kind != order.value:
            raise ValueError(raw)
        timeline_at = datetime.fromisoformat(rest[0]) if order is DocumentOrder.PUBLISHED else None
        return Position(ObjectId(object_id), timeline_at)
    except (ValueError, IndexError, binascii.Error, InvalidId, UnicodeDecodeError):
        raise bad_input(f"'{cursor}' is not a cursor this API issued for this order") from None


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise bad_input(f"first must be between 1 and {MAX_PAGE_SIZE}; got {first}")
    return first
