"""The token bucket: bursts up to the limit, refills continuously, says when to come back."""

from bson import ObjectId

from services.gateway.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_the_limit_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    key = ObjectId()
    quotas = [limiter.take(key) for _ in range(61)]
    assert [q.retry_after_s for q in quotas[:60]] == [0] * 60
    assert quotas[60].retry_after_s == 1
    assert quotas[60].headers()["Retry-After"] == "1"
    clock.now = 2.0  # two requests' worth refilled
    assert limiter.take(key).retry_after_s == 0
    assert limiter.take(key).retry_after_s == 0
    assert limiter.take(key).retry_after_s == 1


def test_keys_have_their_own_buckets_and_limits() -> None:
    limiter = RateLimiter(600, clock=Clock())
    slow, fast = ObjectId(), ObjectId()
    assert limiter.take(slow, per_minute=1).remaining == 0
    assert limiter.take(slow, per_minute=1).retry_after_s == 60
    assert limiter.take(fast).remaining == 599
