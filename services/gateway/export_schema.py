"""Write the GraphQL schema's SDL to services/gateway/schema.graphql (``make schema``).

The file is committed so that integrators and reviewers read the API without running it; a
test fails when it no longer matches the code.
"""

from pathlib import Path

from services.gateway.schema import build_schema

SDL_PATH = Path(__file__).with_name("schema.graphql")


def sdl() -> str:
    return build_schema().as_str() + "\n"


if __name__ == "__main__":
    SDL_PATH.write_text(sdl(), encoding="utf-8")
    print(f"wrote {SDL_PATH}")
