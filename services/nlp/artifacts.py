"""A committed model's description and files: one set of checks and errors for every model."""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path


class ModelLoadError(RuntimeError):
    """A model directory is missing, incomplete, corrupt or of another format."""


def read_description(
    path: Path, *, what: str, required: Sequence[str], format_version: int
) -> dict:
    """The JSON object describing a model, with every ``required`` key and our format version."""
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelLoadError(f"{what} description not found: {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read {what} description {path}: {error}") from error
    if not isinstance(description, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    missing = [key for key in ("format_version", *required) if key not in description]
    if missing:
        raise ModelLoadError(f"{path} lacks {', '.join(missing)}")
    if description["format_version"] != format_version:
        raise ModelLoadError(
            f"{path} has format_version {description['format_version']}, "
            f"this code reads {format_version}"
        )
    return description


def read_verified(path: Path, expected_sha256: str, *, what: str, recorded_in: str) -> bytes:
    """The bytes of a model file whose SHA-256 must be the one its description records."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelLoadError(f"cannot read {what} {path}: {error}") from error
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != expected_sha256:
        raise ModelLoadError(
            f"{path} has SHA-256 {sha256}, but {recorded_in} records "
            f"{expected_sha256}: the file is corrupt or from another model"
        )
    return data
