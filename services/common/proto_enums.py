"""Protobuf enum values as the lower-case words the services store: SOURCE_KIND_PRESS <-> press."""

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper


def enum_to_str(enum: EnumTypeWrapper, prefix: str, value: int) -> str:
    """SOURCE_KIND_PRESS -> "press"; the unspecified value -> ""."""
    name = enum.Name(value).removeprefix(prefix).lower()
    return "" if name == "unspecified" else name


def str_to_enum(enum: EnumTypeWrapper, prefix: str, value: str) -> int:
    """ "press" -> SOURCE_KIND_PRESS; anything unknown -> the unspecified value (0)."""
    try:
        return enum.Value(prefix + value.upper())
    except ValueError:
        return 0
