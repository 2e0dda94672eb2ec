"""Per-key rate limits: a token bucket per API key, in this gateway process.

Each key may make ``limit`` requests a minute, refilled continuously, bursting up to ``limit``.
Buckets live in the process, so with N gateway replicas a key can reach N times its limit at
the most; the limit protects each replica, which is what it is for.
"""

import math
import time
from dataclasses import dataclass

from bson import ObjectId


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    remaining: int
    # Seconds until the bucket is full again (RateLimit-Reset).
    reset_s: int
    # Seconds until the next request would be allowed; 0 when allowed now.
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }
        if self.retry_after_s:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimiter:
    def __init__(self, default_per_minute: int, clock=time.monotonic) -> None:
        self._default = default_per_minute
        self._clock = clock
        # key id -> (tokens, last refill time)
        self._buckets: dict[ObjectId, tuple[float, float]] = {}

    def take(self, key_id: ObjectId, per_minute: int | None = None) -> Quota:
        """Spend one request of ``key_id``'s budget if it has one; say what is left either way."""
        limit = per_minute or self._default
        rate = limit / 60.0
        now = self._clock()
        tokens, at = self._buckets.get(key_id, (float(limit), now))
        tokens = min(float(limit), tokens + (now - at) * rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[key_id] = (tokens, now)
        return Quota(
            limit=limit,
            remaining=int(tokens),
            reset_s=math.ceil((limit - tokens) / rate),
            retry_after_s=0 if allowed else math.ceil((1.0 - tokens) / rate),
        )
