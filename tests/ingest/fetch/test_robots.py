"""robots.txt: RFC 9309 matching through protego, and fetching, caching and failure rules."""

import asyncio
from collections.abc import Callable

import pytest

from services.ingest.fetch import DisallowedByRobots, Fetcher, RetryLater
from services.ingest.fetch.robots import ROBOTS_MAX_BYTES, RobotsRules
from tests.ingest.fetch.conftest import LocalServer, Received, Reply

AGENT = "LangNgheBot"


def allowed(robots_txt: str, path: str) -> bool:
    return RobotsRules.parse(robots_txt.encode(), AGENT).allows(f"https://baodanang.vn{path}")


@pytest.mark.parametrize(
    ("robots_txt", "path", "expected"),
    [
        # 2.2.2: the most specific (longest) match wins, whichever comes first...
        ("User-agent: *\nAllow: /p\nDisallow: /*.html\n", "/page.html", False),
        ("User-agent: *\nDisallow: /*.html\nAllow: /page.html\n", "/page.html", True),
        ("User-agent: *\nAllow: /private/public\nDisallow: /private\n", "/private/public/1", True),
        ("User-agent: *\nAllow: /private/public\nDisallow: /private\n", "/private/x", False),
        # ...and Allow wins a tie.
        ("User-agent: *\nDisallow: /folder\nAllow: /folder\n", "/folder/page", True),
        # 2.2.3: "*" matches any run of characters, "$" the end of the path.
        ("User-agent: *\nDisallow: /*.php$\n", "/index.php", False),
        ("User-agent: *\nDisallow: /*.php$\n", "/index.php?page=2", True),
        ("User-agent: *\nDisallow: /tag/*/feed\n", "/tag/giao-thong/feed", False),
        ("User-agent: *\nDisallow: /tag/*/feed\n", "/tag/giao-thong", True),
        # 2.1: our group, matched case-insensitively, replaces "*"; groups of one agent merge.
        ("User-agent: *\nDisallow: /\n\nUser-agent: langnghebot\nAllow: /\n", "/tin", True),
        ("User-agent: *\nDisallow: /\n\nUser-agent: OtherBot\nAllow: /\n", "/tin", False),
        (
            "User-agent: LangNgheBot\nDisallow: /a\n\nUser-agent: *\nDisallow: /\n\n"
            "User-agent: LangNgheBot\nDisallow: /b\n",
            "/b/1",
            False,
        ),
        # No group for us and none for "*": everything is allowed; so is an empty Disallow.
        ("User-agent: OtherBot\nDisallow: /\n", "/tin", True),
        ("User-agent: *\nDisallow:\n", "/tin", True),
        # 2.2.2: compared percent-encoded, so UTF-8 rules match the URLs of Vietnamese paths.
        ("User-agent: *\nDisallow: /tin-tức/\n", "/tin-t%E1%BB%A9c/1", False),
        ("User-agent: *\nDisallow: /tin-t%E1%BB%A9c/\n", "/tin-tức/1", False),
        ("User-agent: *\nDisallow: /a%3cd\n", "/a%3Cd", False),
        # 2.2.2: /robots.txt itself is always allowed.
        ("User-agent: *\nDisallow: /\n", "/robots.txt", True),
        # A byte-order mark does not hide the first line.
        ("\ufeffUser-agent: *\nDisallow: /\n", "/tin", False),
    ],
)
def test_rfc_9309_matching(robots_txt: str, path: str, expected: bool) -> None:
    assert allowed(robots_txt, path) is expected


def test_crawl_delay_is_read_for_our_group() -> None:
    rules = RobotsRules.parse(
        b"User-agent: *\nCrawl-delay: 1\n\nUser-agent: LangNgheBot\nCrawl-delay: 2.5\n", AGENT
    )
    assert rules.crawl_delay_s == 2.5
    assert RobotsRules(AGENT).crawl_delay_s is None


async def test_robots_txt_is_fetched_once_per_origin(
    server: LocalServer, make_fetcher: Callable
) -> None:
    server.routes["/robots.txt"] = Reply(body=b"User-agent: *\nAllow: /\n", delay_s=0.2)
    server.routes["/page"] = Reply(body=b"ok")
    fetcher = make_fetcher(per_host_concurrency=8)

    await asyncio.gather(*(fetcher.fetch(server.url(f"/page?n={n}")) for n in range(10)))

    assert server.hits("/robots.txt") == 1


async def test_a_disallowed_url_is_never_requested(server: LocalServer, fetcher: Fetcher) -> None:
    server.routes["/robots.txt"] = Reply(body=b"User-agent: LangNgheBot\nDisallow: /admin\n")

    with pytest.raises(DisallowedByRobots) as raised:
        await fetcher.fetch(server.url("/admin/login"))

    assert raised.value.url == server.url("/admin/login")
    assert server.paths() == ["/robots.txt"]


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_an_unavailable_robots_txt_allows_everything(
    server: LocalServer, fetcher: Fetcher, status: int
) -> None:
    server.routes["/robots.txt"] = Reply(status, body=b"User-agent: *\nDisallow: /\n")
    server.routes["/feed"] = Reply(body=b"ok")

    assert (await fetcher.fetch(server.url("/feed"))).body == b"ok"


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_an_unreachable_robots_txt_disallows_everything_for_a_while(
    server: LocalServer, make_fetcher: Callable, status: int
) -> None:
    fetcher = make_fetcher(robots_unreachable_ttl_s=0.3, max_attempts=2)
    server.routes["/robots.txt"] = Reply(status)
    server.routes["/feed"] = Reply(body=b"ok")

    with pytest.raises(RetryLater, match=r"robots\.txt is unreachable"):
        await fetcher.fetch(server.url("/feed"))
    with pytest.raises(RetryLater):
        await fetcher.fetch(server.url("/feed"))  # the failure is cached, not fetched again
    assert server.paths() == ["/robots.txt"] * 2  # one fetch, retried once

    server.routes["/robots.txt"] = Reply(404)
    await asyncio.sleep(0.35)
    assert (await fetcher.fetch(server.url("/feed"))).body == b"ok"


async def test_robots_txt_redirects_are_followed_up_to_five(
    server: LocalServer, fetcher: Fetcher
) -> None:
    server.routes["/robots.txt"] = Reply(301, headers={"Location": "/r/1"})
    for n in range(1, 5):
        server.routes[f"/r/{n}"] = Reply(302, headers={"Location": f"/r/{n + 1}"})
    server.routes["/r/5"] = Reply(body=b"User-agent: *\nDisallow: /private\n")

    with pytest.raises(DisallowedByRobots):
        await fetcher.fetch(server.url("/private/1"))


async def test_robots_txt_behind_too_many_redirects_allows_everything(
    server: LocalServer, fetcher: Fetcher
) -> None:
    server.routes["/robots.txt"] = Reply(301, headers={"Location": "/r/1"})
    for n in range(1, 7):
        server.routes[f"/r/{n}"] = Reply(302, headers={"Location": f"/r/{n + 1}"})
    server.routes["/r/7"] = Reply(body=b"User-agent: *\nDisallow: /\n")
    server.routes["/private/1"] = Reply(body=b"ok")

    assert (await fetcher.fetch(server.url("/private/1"))).body == b"ok"
    assert "/r/6" not in server.paths()


async def test_only_the_first_500_kib_of_robots_txt_count(
    server: LocalServer, fetcher: Fetcher
) -> None:
    padding = b"# " + b"x" * 1000 + b"\n"
    head = b"User-agent: *\nDisallow: /early\n"
    body = head + padding * (ROBOTS_MAX_BYTES // len(padding) + 10) + b"Disallow: /late\n"
    server.routes["/robots.txt"] = Reply(body=body)
    server.routes["/late/1"] = Reply(body=b"ok")

    with pytest.raises(DisallowedByRobots):
        await fetcher.fetch(server.url("/early/1"))
    assert (await fetcher.fetch(server.url("/late/1"))).body == b"ok"


async def test_cached_rules_expire(server: LocalServer, make_fetcher: Callable) -> None:
    fetcher = make_fetcher(robots_ttl_s=0.3)
    rules = [b"User-agent: *\nDisallow:\n", b"User-agent: *\nDisallow: /feed\n"]

    def robots(_: Received) -> Reply:
        return Reply(body=rules.pop(0))

    server.routes["/robots.txt"] = robots
    server.routes["/feed"] = Reply(body=b"ok")

    await fetcher.fetch(server.url("/feed"))
    await fetcher.fetch(server.url("/feed"))
    await asyncio.sleep(0.35)
    with pytest.raises(DisallowedByRobots):
        await fetcher.fetch(server.url("/feed"))
    assert server.hits("/robots.txt") == 2
