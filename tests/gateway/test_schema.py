"""The committed SDL is the schema the gateway serves."""

from services.gateway.export_schema import SDL_PATH, sdl
from services.gateway.schema import build_schema


def test_committed_sdl_matches_the_code() -> None:
    assert SDL_PATH.read_text(encoding="utf-8") == sdl(), "run: make schema"


def test_a_process_can_build_the_schema_more_than_once() -> None:
    # Strawberry's relay.node() field rewrote itself on the first build and broke the second
    # (two apps in one process, or the SDL export beside one).
    first, second = build_schema(), build_schema(introspection=False)
    assert first.as_str() == second.as_str()
