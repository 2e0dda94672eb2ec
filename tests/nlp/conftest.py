"""Fixtures of the nlp tests: the sentence encoder the service loads, built once if missing."""

from pathlib import Path

import pytest

from services.nlp.build_encoder import build
from services.nlp.settings import NlpSettings


@pytest.fixture(scope="session")
def served_encoder_dir() -> Path:
    """The encoder at the path the service reads (``make models`` normally built it already)."""
    directory = NlpSettings().encoder_dir
    build(directory, install_missing=False)
    return directory
