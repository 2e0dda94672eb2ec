"""API keys: each belongs to a city unit and carries scopes; only their SHA-256 is stored.

Keys are 256 random bits, so a plain SHA-256 is enough to keep a database leak from revealing
them (a slow password hash protects guessable secrets, which these are not). A key is shown
once, when it is created; afterwards only its prefix identifies it.
"""

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from litestar import Request
from litestar.exceptions import HTTPException, NotAuthorizedException
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from services.common.validation import FieldViolation, InvalidInputError, NotFoundError
from services.gateway.ratelimit import Quota, RateLimiter

API_KEYS = "api_keys"
KEY_PREFIX = "ln_"
SCOPES = ("read", "documents:write", "feedback:write", "sources:admin", "keys:admin")
# Revocation takes effect everywhere within this many seconds.
CACHE_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key of a city unit, with its scopes."""

    key_id: ObjectId
    unit: str
    scopes: frozenset[str]
    # Requests a minute; None: the gateway's default.
    rate_per_minute: int | None = None
    # The key's first characters, which name it in records without revealing it.
    key_prefix: str = ""

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._keys = db[API_KEYS]
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lookups: dict[str, asyncio.Future[Principal | None]] = {}

    async def ensure_indexes(self) -> None:
        await self._keys.create_indexes(
            [IndexModel([("key_hash", ASCENDING)], name="key_hash_unique", unique=True)]
        )

    async def create(
        self,
        *,
        unit: str,
        scopes: list[str],
        name: str = "",
        key: str | None = None,
        rate_per_minute: int | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A new key for ``unit``; returns the key itself (shown once) and its record."""
        unit = unit.strip()
        violations = []
        if not unit:
            violations.append(FieldViolation("unit", "REQUIRED", "a key belongs to a city unit"))
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            violations.append(
                FieldViolation("scopes", "INVALID", f"scopes must be some of {', '.join(SCOPES)}")
            )
        if rate_per_minute is not None and not 1 <= rate_per_minute <= 100_000:
            violations.append(
                FieldViolation("ratePerMinute", "INVALID", "ratePerMinute must be 1 to 100,000")
            )
        if violations:
            raise InvalidInputError(violations)
        key = key or new_key()
        record = {
            "key_hash": hash_key(key),
            "prefix": key[:10],
            "unit": unit,
            "name": name.strip(),
            "scopes": sorted(set(scopes)),
            "created_at": datetime.now(UTC),
            "revoked_at": None,
            "rate_per_minute": rate_per_minute,
        }
        result = await self._keys.insert_one(record)
        return key, {**record, "_id": result.inserted_id}

    async def ensure(self, key: str, *, unit: str, scopes: list[str], name: str) -> None:
        """Make sure ``key`` exists (the administrators' key from the environment)."""
        if await self._keys.find_one({"key_hash": hash_key(key)}) is None:
            await self.create(unit=unit, scopes=scopes, name=name, key=key)

    async def revoke(self, key_id: ObjectId) -> dict[str, Any]:
        record = await self._keys.find_one_and_update(
            {"_id": key_id, "revoked_at": None},
            {"$set": {"revoked_at": datetime.now(UTC)}},
            return_document=True,
        )
        if record is None:
            raise NotFoundError(f"no active API key with id {key_id}")
        self._cache.clear()
        return record

    async def list_keys(self, unit: str | None = None) -> list[dict[str, Any]]:
        query = {"unit": unit} if unit else {}
        return await self._keys.find(query, {"key_hash": 0}).sort("_id", 1).to_list()

    async def authenticate(self, key: str) -> Principal | None:
        """The principal of an active key, or None; answers from a short cache when it can."""
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached and time.monotonic() - cached[0] < CACHE_TTL_S:
            return cached[1]
        # One lookup per key at a time: when the entry expires under load, the requests that
        # arrive meanwhile wait for that lookup instead of each querying MongoDB.
        pending = self._lookups.get(digest)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up(digest))
            self._lookups[digest] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(digest, None))
        return await asyncio.shield(pending)

    async def _look_up(self, digest: str) -> Principal | None:
        record = await self._keys.find_one({"key_hash": digest, "revoked_at": None})
        principal = (
            Principal(
                record["_id"],
                record["unit"],
                frozenset(record["scopes"]),
                record.get("rate_per_minute"),
                record.get("prefix", ""),
            )
            if record
            else None
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (time.monotonic(), principal)
        return principal


async def authenticate(request: Request, keys: ApiKeyStore, *, ide: bool) -> Principal | None:
    """The caller's principal from ``Authorization: Bearer <key>``; 401 without a valid key.

    The GraphiQL page itself (a browser's GET for HTML, in development) needs no key; the
    queries it sends do.
    """
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        principal = await keys.authenticate(key.strip())
        if principal is not None:
            return principal
    elif ide and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        return None
    raise NotAuthorizedException(
        "a valid API key is required: Authorization: Bearer <key>",
        headers={"WWW-Authenticate": 'Bearer realm="langnghe"'},
    )


def admit(limiter: RateLimiter, principal: Principal) -> Quota:
    """Spend one request of the caller's rate limit, or refuse with 429 and when to retry."""
    quota = limiter.take(principal.key_id, principal.rate_per_minute)
    if quota.retry_after_s:
        raise HTTPException(
            status_code=429,
            detail=f"this API key's limit of {quota.limit} requests a minute is spent",
            headers=quota.headers(),
        )
    return quota
