"""Import a source registry file into ingest over gRPC: ``python -m services.ingest.seed FILE``.

The file is YAML with a top-level ``sources:`` list (see seeds/). Entries marked
``verified: false`` are imported disabled, so a person confirms them before they are polled.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc
import yaml

from langnghe.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from services.common.grpc_client import open_channel
from services.common.proto_enums import str_to_enum

SPEC_KEYS = {
    "name",
    "kind",
    "channel",
    "urls",
    "outlet",
    "districts",
    "sectors",
    "language",
    "min_interval_s",
    "max_interval_s",
}
# Notes for reviewers of the file, not for the registry.
NOTE_KEYS = {"evidence", "verified", "notes"}


class SeedFileError(ValueError):
    pass


def read_registry(path: Path) -> list[ingest_pb2.SourceSpec]:
    """The sources of a registry file; unknown keys are an error, so typos do not pass silently."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SeedFileError(f"{path}: {error}") from error
    entries = document.get("sources") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SeedFileError(f"{path}: expected a top-level 'sources:' list")
    specs = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SeedFileError(f"{path}: sources[{index}] is not a mapping")
        unknown = set(entry) - SPEC_KEYS - NOTE_KEYS
        if unknown:
            raise SeedFileError(f"{path}: sources[{index}] has unknown keys {sorted(unknown)}")
        specs.append(spec_message(entry))
    return specs


def spec_message(entry: dict[str, Any]) -> ingest_pb2.SourceSpec:
    return ingest_pb2.SourceSpec(
        name=str(entry.get("name", "")),
        kind=str_to_enum(ingest_pb2.SourceKind, "SOURCE_KIND_", str(entry.get("kind", ""))),
        channel=str_to_enum(ingest_pb2.Channel, "CHANNEL_", str(entry.get("channel", ""))),
        urls=[str(u) for u in entry.get("urls", [])],
        outlet=str(entry.get("outlet", "")),
        districts=[str(d) for d in entry.get("districts", [])],
        sectors=[str(s) for s in entry.get("sectors", [])],
        language=str(entry.get("language", "vi")),
        min_interval_s=int(entry.get("min_interval_s", 0)),
        max_interval_s=int(entry.get("max_interval_s", 0)),
        start_disabled=entry.get("verified") is False,
    )


async def import_registry(
    path: Path, target: str, *, url_map: dict[str, str] | None = None
) -> ingest_pb2.ImportSourcesResponse:
    """Send the file's sources to ingest; ``url_map`` rewrites URL prefixes (for the demo)."""
    specs = read_registry(path)
    for spec in specs:
        for old, new in (url_map or {}).items():
            spec.urls[:] = [u.replace(old, new, 1) for u in spec.urls]
    async with open_channel(target) as channel:
        return await ingest_pb2_grpc.IngestServiceStub(channel).ImportSources(
            ingest_pb2.ImportSourcesRequest(sources=specs), timeout=60
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--target", default="127.0.0.1:50052", help="ingest's gRPC address")
    args = parser.parse_args()
    try:
        result = await import_registry(args.file, args.target)
    except SeedFileError as error:
        print(error, file=sys.stderr)
        return 2
    except grpc.aio.AioRpcError as error:
        print(f"ingest refused the import: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(f"{result.created} sources created, {result.updated} updated")
    for failure in result.errors:
        problems = "; ".join(f"{v.field}: {v.message}" for v in failure.violations)
        print(f"  sources[{failure.index}] refused: {problems}", file=sys.stderr)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
