"""The committed SDL is the schema the gateway serves."""

from services.gateway.export_schema import SDL_PATH, sdl


def test_committed_sdl_matches_the_code() -> None:
    assert SDL_PATH.read_text(encoding="utf-8") == sdl(), "run: make schema"
