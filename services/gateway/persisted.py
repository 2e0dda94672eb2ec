"""Persisted queries: an allow-list of GraphQL documents by SHA-256, which production requires.

A client sends ``{"extensions": {"persistedQuery": {"sha256Hash": ...}}}`` without the query
(the Apollo convention) and the gateway supplies the stored document; with
``require_persisted_queries`` set, a query not on the list is refused before it is parsed, so
only the operations the city's integrators registered can run.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from pymongo.asynchronous.database import AsyncDatabase

PERSISTED_QUERIES = "persisted_queries"


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class PersistedQueries:
    def __init__(self, db: AsyncDatabase) -> None:
        self._queries = db[PERSISTED_QUERIES]

    async def add(self, query: str, name: str) -> dict[str, Any]:
        record = {
            "_id": query_hash(query),
            "query": query,
            "name": name,
            "created_at": datetime.now(UTC),
        }
        await self._queries.update_one(
            {"_id": record["_id"]}, {"$setOnInsert": record}, upsert=True
        )
        return await self._queries.find_one({"_id": record["_id"]})

    async def get(self, sha256: str) -> str | None:
        record = await self._queries.find_one({"_id": sha256})
        return record["query"] if record else None

    async def list_all(self) -> list[dict[str, Any]]:
        return await self._queries.find({}).sort("name").to_list()


def persisted_queries_middleware(*, required: bool, max_body_bytes: int):
    """Resolve hashes to stored queries, and refuse unlisted queries when ``required``."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if not (
                scope["type"] == "http"
                and scope["method"] == "POST"
                and scope["path"].rstrip("/") == "/graphql"
            ):
                await app(scope, receive, send)
                return
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > max_body_bytes:
                    await _refuse(send, 413, "REQUEST_TOO_LARGE", "the request body is too large")
                    return
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None  # not JSON: let the GraphQL view say so
            if isinstance(payload, dict):
                store: PersistedQueries = scope["app"].state.persisted_queries
                sha = ((payload.get("extensions") or {}).get("persistedQuery") or {}).get(
                    "sha256Hash"
                )
                query = payload.get("query")
                if not query and sha:
                    query = await store.get(str(sha))
                    if query is None:
                        await _refuse(
                            send, 400, "PERSISTED_QUERY_NOT_FOUND", f"no persisted query {sha}"
                        )
                        return
                    payload["query"] = query
                    body = json.dumps(payload).encode()
                elif (
                    required
                    and isinstance(query, str)
                    and await store.get(query_hash(query)) is None
                ):
                    await _refuse(
                        send,
                        400,
                        "PERSISTED_QUERY_REQUIRED",
                        "this gateway runs only persisted queries; register this one first",
                    )
                    return
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await app(scope, replay, send)

        return middleware

    return factory


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
