"""Errors the API shows: user errors in payloads, and GraphQL errors with a stable code."""

from enum import Enum

import strawberry
from graphql import GraphQLError

from services.common.validation import FieldViolation


@strawberry.enum(description="Stable, machine-readable reasons an input was refused.")
class UserErrorCode(Enum):
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID = "INVALID"
    INVALID_URL = "INVALID_URL"
    IN_FUTURE = "IN_FUTURE"
    DUPLICATE = "DUPLICATE"
    NOT_FOUND = "NOT_FOUND"


@strawberry.type(description="An input the caller can correct; nothing was changed.")
class UserError:
    code: UserErrorCode
    field: list[str] | None = strawberry.field(
        description='Path to the input field, e.g. ["input", "text"].'
    )
    message: str

    @classmethod
    def from_violation(cls, violation: FieldViolation) -> "UserError":
        code = (
            UserErrorCode[violation.code]
            if violation.code in UserErrorCode.__members__
            else UserErrorCode.INVALID
        )
        path = ["input", violation.field] if violation.field else None
        return cls(code=code, field=path, message=violation.message)


class ApiError(GraphQLError):
    """A fault the caller should see as is, with ``extensions.code``; all others are masked."""

    def __init__(self, message: str, code: str, **details: object) -> None:
        super().__init__(message, extensions={"code": code, **details})


def bad_input(message: str) -> ApiError:
    return ApiError(message, "BAD_USER_INPUT")


def should_mask_error(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; keep validation errors and those raised as ApiError."""
    original = error.original_error
    return original is not None and not isinstance(original, ApiError | GraphQLError)
