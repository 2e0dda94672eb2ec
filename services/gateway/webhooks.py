"""Signed webhooks: a unit's targets for its alerts, and their delivery through a MongoDB outbox.

Each delivery is a JSON POST with three headers::

    LangNghe-Event: alert.raised
    LangNghe-Timestamp: 1764489600                       (Unix seconds, when it was sent)
    LangNghe-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

The receiver recomputes the signature over the raw body with the secret it was shown once, at
creation, compares in constant time and refuses timestamps older than a few minutes (replays).

The signature needs the secret itself, so it cannot be stored hashed: it is encrypted with
AES-256-GCM under ``webhook_secret_key`` (a setting from a Secret, never in the database), the
record's id as associated data, so a database dump alone reveals no secret and a ciphertext
copied onto another record does not decrypt.

Deliveries are written to ``webhook_deliveries`` before any is sent (the outbox), claimed under
a lease, and retried with exponential backoff and full jitter until ``webhook_max_attempts``: a
gateway that dies mid-delivery leaves the record to be claimed again when its lease lapses.
Targets are reached only through the SSRF guard (services.common.ssrf), at every connect and
every redirect hop; a refused address fails the delivery at once, since retrying cannot help.
"""

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from bson import ObjectId
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from prometheus_client import CollectorRegistry, Counter
from pymongo import ASCENDING, IndexModel, InsertOne, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.common.ssrf import AddressGuard, BlockedBySsrfPolicy, GuardedTransport
from services.common.validation import FieldViolation, InvalidInputError

log = structlog.get_logger(__name__)

WEBHOOKS = "webhooks"
DELIVERIES = "webhook_deliveries"
SECRET_PREFIX = "whsec_"
EVENT_ALERT_RAISED = "alert.raised"
MAX_WEBHOOKS_PER_UNIT = 20
MAX_REDIRECTS = 3
MAX_URL_LENGTH = 2_048
# How long a claimed delivery stays with its sender before another may try it.
LEASE = timedelta(seconds=60)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The LangNghe-Signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


class SecretBox:
    """Encrypts webhook secrets at rest with AES-256-GCM; the record id is associated data."""

    def __init__(self, key_b64: str) -> None:
        try:
            key = base64.b64decode(key_b64, validate=True)
        except binascii.Error:
            raise ValueError("webhook_secret_key must be base64") from None
        if len(key) != 32:
            raise ValueError("webhook_secret_key must be 32 bytes (base64 of 32 random bytes)")
        self._aead = AESGCM(key)

    def seal(self, record_id: ObjectId, secret: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, secret.encode(), record_id.binary)

    def open(self, record_id: ObjectId, sealed: bytes) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], record_id.binary).decode()


class WebhooksUnavailable(Exception):
    """This gateway has no webhook_secret_key, so it can neither create nor sign webhooks."""


class WebhookStore:
    def __init__(self, db: AsyncDatabase, box: SecretBox | None, guard: AddressGuard) -> None:
        self._webhooks = db[WEBHOOKS]
        self.deliveries = db[DELIVERIES]
        self._box = box
        self._guard = guard

    async def ensure_indexes(self) -> None:
        await self._webhooks.create_indexes([IndexModel([("unit", ASCENDING)], name="unit")])
        await self.deliveries.create_indexes(
            [
                IndexModel(
                    [("alert_id", ASCENDING), ("webhook_id", ASCENDING)],
                    name="alert_webhook_unique",
                    unique=True,
                ),
                IndexModel([("state", ASCENDING), ("due_at", ASCENDING)], name="due"),
                IndexModel([("webhook_id", ASCENDING), ("_id", ASCENDING)], name="webhook"),
            ]
        )

    async def create(
        self, *, unit: str, url: str, topic_ids: Sequence[ObjectId], created_by: str
    ) -> tuple[str, dict[str, Any]]:
        """A new target for ``unit``; returns its secret (shown once) and its record."""
        if self._box is None:
            raise WebhooksUnavailable
        self.check_url(url)
        if await self._webhooks.count_documents({"unit": unit}) >= MAX_WEBHOOKS_PER_UNIT:
            raise InvalidInputError(
                [FieldViolation("url", "INVALID", f"a unit has at most {MAX_WEBHOOKS_PER_UNIT}")]
            )
        record_id = ObjectId()
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        record = {
            "_id": record_id,
            "unit": unit,
            "url": url,
            "topic_ids": list(topic_ids),
            "secret_sealed": self._box.seal(record_id, secret),
            "created_by": created_by,
            "created_at": datetime.now(UTC),
        }
        await self._webhooks.insert_one(record)
        return secret, record

    def check_url(self, url: str) -> None:
        """Refuse at once what the guard would refuse at connect time, when the URL says so."""
        if len(url) > MAX_URL_LENGTH:
            raise InvalidInputError(
                [FieldViolation("url", "TOO_LONG", f"at most {MAX_URL_LENGTH} characters")]
            )
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise InvalidInputError([FieldViolation("url", "INVALID_URL", str(error))]) from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise InvalidInputError(
                [FieldViolation("url", "INVALID_URL", "an absolute http(s) URL is required")]
            )
        try:
            self._guard.check_url(parsed)
        except BlockedBySsrfPolicy as refused:
            raise InvalidInputError(
                [FieldViolation("url", "INVALID_URL", f"webhooks may not reach {refused}")]
            ) from None

    async def list_for(self, unit: str) -> list[dict[str, Any]]:
        return await self._webhooks.find({"unit": unit}).sort("_id", 1).to_list()

    async def delete(self, webhook_id: ObjectId, unit: str) -> dict[str, Any] | None:
        return await self._webhooks.find_one_and_delete({"_id": webhook_id, "unit": unit})

    async def get(self, webhook_id: ObjectId) -> dict[str, Any] | None:
        return await self._webhooks.find_one({"_id": webhook_id})

    def secret_of(self, record: dict[str, Any]) -> str:
        if self._box is None:
            raise WebhooksUnavailable
        return self._box.open(record["_id"], record["secret_sealed"])

    async def enqueue(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        unit: str,
        topic_id: ObjectId,
        alert_id: ObjectId,
    ) -> int:
        """Write one pending delivery per matching target; a second call adds nothing."""
        targets = await self._webhooks.find(
            {"unit": unit, "$or": [{"topic_ids": []}, {"topic_ids": topic_id}]}
        ).to_list()
        if not targets:
            return 0
        now = datetime.now(UTC)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        try:
            result = await self.deliveries.bulk_write(
                [
                    InsertOne(
                        {
                            "alert_id": alert_id,
                            "webhook_id": t["_id"],
                            "unit": unit,
                            "event": event,
                            "body": body,
                            "state": PENDING,
                            "attempts": 0,
                            "due_at": now,
                            "created_at": now,
                        }
                    )
                    for t in targets
                ],
                ordered=False,
            )
            return result.inserted_count
        except BulkWriteError as error:
            if any(e["code"] != 11000 for e in error.details["writeErrors"]):
                raise
            return error.details["nInserted"]

    async def claim_due(self, now: datetime) -> dict[str, Any] | None:
        return await self.deliveries.find_one_and_update(
            {"state": PENDING, "due_at": {"$lte": now}},
            {"$set": {"due_at": now + LEASE}, "$inc": {"attempts": 1}},
            sort=[("due_at", 1)],
            return_document=ReturnDocument.AFTER,
        )

    async def next_due_at(self) -> datetime | None:
        record = await self.deliveries.find_one(
            {"state": PENDING}, {"due_at": 1}, sort=[("due_at", 1)]
        )
        return record["due_at"] if record else None

    async def finish(self, delivery_id: ObjectId, fields: dict[str, Any]) -> None:
        await self.deliveries.update_one({"_id": delivery_id}, {"$set": fields})


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "langnghe_gateway_webhook_attempts_total",
            "Webhook delivery attempts, by outcome: delivered, retry, failed or blocked.",
            ["outcome"],
            registry=registry,
        )


class WebhookSender:
    """Sends due deliveries until each succeeds or runs out of attempts."""

    def __init__(
        self,
        store: WebhookStore,
        guard: AddressGuard,
        *,
        timeout_s: float,
        max_attempts: int,
        retry_base_s: float,
        retry_max_s: float,
        poll_s: float,
        concurrency: int,
        metrics: DeliveryMetrics,
    ) -> None:
        self._store = store
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._poll_s = poll_s
        self._metrics = metrics
        self.wake = asyncio.Event()
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(guard),
            timeout=timeout_s,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": "LangNghe-Webhooks/1"},
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: ``concurrency`` workers, so one slow receiver does not hold up all."""
        await asyncio.gather(*(self._work(stop) for _ in range(self._concurrency)))

    async def _work(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before looking, so an enqueue while this worker looks still wakes it.
            self.wake.clear()
            try:
                while (delivery := await self._store.claim_due(datetime.now(UTC))) is not None:
                    await self.deliver(delivery)
                next_due = await self._store.next_due_at()
            except Exception:
                log.exception("webhook delivery worker error")
                next_due = None
            delay = self._poll_s
            if next_due is not None:
                delay = min(delay, max((next_due - datetime.now(UTC)).total_seconds(), 0.05))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await _first_of(stop.wait(), self.wake.wait())

    async def deliver(self, delivery: dict[str, Any]) -> None:
        webhook = await self._store.get(delivery["webhook_id"])
        if webhook is None:
            await self._store.finish(
                delivery["_id"], {"state": FAILED, "last_error": "the webhook was deleted"}
            )
            return
        try:
            secret = self._store.secret_of(webhook)
        except (InvalidTag, WebhooksUnavailable):
            await self._store.finish(
                delivery["_id"],
                {"state": FAILED, "last_error": "cannot decrypt the secret: was the key changed?"},
            )
            return
        body = delivery["body"].encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "LangNghe-Event": delivery["event"],
            "LangNghe-Delivery": str(delivery["_id"]),
            "LangNghe-Timestamp": str(timestamp),
            "LangNghe-Signature": sign(secret, timestamp, body),
        }
        try:
            response = await self._client.post(webhook["url"], content=body, headers=headers)
        except BlockedBySsrfPolicy as refused:
            self._metrics.attempts.labels("blocked").inc()
            await self._store.finish(
                delivery["_id"], {"state": FAILED, "last_error": f"refused: {refused}"}
            )
            log.warning("webhook target refused", webhook=str(webhook["_id"]), error=str(refused))
            return
        except httpx.HTTPError as error:
            await self._retry(delivery, f"{type(error).__name__}: {error}", None)
            return
        if response.is_success:
            self._metrics.attempts.labels("delivered").inc()
            await self._store.finish(
                delivery["_id"],
                {"state": DELIVERED, "status": response.status_code, "delivered_at": _now()},
            )
            return
        await self._retry(delivery, f"HTTP {response.status_code}", response.status_code)

    async def _retry(self, delivery: dict[str, Any], error: str, status: int | None) -> None:
        attempts = delivery["attempts"]
        if attempts >= self._max_attempts:
            self._metrics.attempts.labels("failed").inc()
            await self._store.finish(
                delivery["_id"], {"state": FAILED, "last_error": error, "status": status}
            )
            return
        self._metrics.attempts.labels("retry").inc()
        ceiling = min(self._retry_max_s, self._retry_base_s * 2 ** (attempts - 1))
        await self._store.finish(
            delivery["_id"],
            {
                "due_at": _now() + timedelta(seconds=random.uniform(0, ceiling)),
                "last_error": error,
                "status": status,
            },
        )


def _now() -> datetime:
    return datetime.now(UTC)


async def _first_of(*waits) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
