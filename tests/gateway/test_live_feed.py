"""The gateway's side of live events: in-process fan-out, and finding every ingest replica."""

import pytest

from services.gateway.live import Broadcast, TooSlow, resolve_endpoints


async def test_a_subscriber_that_falls_behind_gets_what_was_queued_then_too_slow() -> None:
    broadcast: Broadcast[int] = Broadcast(2)
    async with broadcast.subscribe() as slow, broadcast.subscribe() as keeping_up:
        broadcast.publish(1)
        assert await anext(keeping_up) == 1
        broadcast.publish(2)
        assert await anext(keeping_up) == 2
        broadcast.publish(3)  # the slow one's queue (1, 2) is full: it is marked, not waited for
        assert await anext(keeping_up) == 3
        assert [await anext(slow), await anext(slow)] == [1, 2]
        with pytest.raises(TooSlow):
            await anext(slow)
        assert broadcast.subscribers == 2
    assert broadcast.subscribers == 0


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("dns:///127.0.0.1:50052", ["127.0.0.1:50052"]),
        ("127.0.0.1:50052", ["127.0.0.1:50052"]),
        ("[::1]:50052", ["[::1]:50052"]),
    ],
)
async def test_endpoints_are_every_address_of_the_target(target: str, expected: list) -> None:
    assert await resolve_endpoints(target) == expected


async def test_a_name_resolves_to_all_its_addresses() -> None:
    endpoints = await resolve_endpoints("dns:///localhost:50052")
    assert "127.0.0.1:50052" in endpoints
    assert all(e.endswith(":50052") for e in endpoints)
