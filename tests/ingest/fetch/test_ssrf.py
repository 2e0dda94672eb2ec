"""The SSRF guard: every vector refused before a socket connects, redirects and DNS included.

No test here connects anywhere but loopback: a forbidden address is refused before connecting,
and the stand-in for a "public" answer is 127.0.0.1, allow-listed.
"""

import ipaddress
import ssl
from collections.abc import Callable, Iterable, Sequence

import httpcore
import httpx
import pytest
import trustme

from services.common.ssrf import GuardedNetworkBackend, IPAddress, forbidden_reason
from services.ingest.fetch import (
    AddressGuard,
    BlockedBySsrfPolicy,
    CertificateError,
    Fetcher,
    GuardedTransport,
    RetryLater,
)
from tests.ingest.fetch.conftest import FakeResolver, LocalServer, Reply


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.0.1", "link-local"),
        ("100.64.0.1", "shared address space"),
        ("100.100.100.200", "shared address space"),  # Alibaba Cloud metadata
        ("0.0.0.0", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "reserved"),
        ("192.0.0.192", "IETF protocol"),  # Oracle Cloud metadata
        ("198.18.0.1", "benchmarking"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "IPv4-mapped of 127.0.0.1, loopback"),
        ("::ffff:7f00:1", "IPv4-mapped of 127.0.0.1, loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped of 169.254.169.254, cloud metadata"),
        ("::127.0.0.1", "IPv4-compatible of 127.0.0.1, loopback"),
        ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1, loopback"),
        ("64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254, cloud metadata"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("2002:a00:1::", "6to4 of 10.0.0.1, private"),
        ("2002:7f00:1::1", "6to4 of 127.0.0.1, loopback"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:db8::1", "documentation"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found
    with pytest.raises(BlockedBySsrfPolicy):
        AddressGuard().check_address(ipaddress.ip_address(address), 80)


@pytest.mark.parametrize(
    "address",
    [
        "203.162.4.191",
        "8.8.8.8",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        # NAT64 and 6to4 forms of public addresses: what IPv6-only networks (DNS64) hand out.
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0x7F.0.0.1",
        "017700000001",
        "0177.0.0.1",
        "127.1",
        "127.0.1",
        "127.0.0.1.",
    ],
)
def test_numeric_ipv4_forms_are_read_as_the_system_reads_them(host: str) -> None:
    with pytest.raises(BlockedBySsrfPolicy, match=r"127\.0\.0\.1"):
        AddressGuard().check_host(host, 80)
    assert AddressGuard(["127.0.0.1/32"]).check_host(host, 80) == ipaddress.ip_address("127.0.0.1")


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "1.2.3.0x100", "0x1g.1", "09.1.1.1"])
def test_malformed_numeric_hosts_are_refused(host: str) -> None:
    with pytest.raises(BlockedBySsrfPolicy):
        AddressGuard(["0.0.0.0/0"]).check_host(host, 80)


@pytest.mark.parametrize(
    "host", ["baodanang.vn", "xn--nng-hoa.vn", "1tin.vn", "metadata.example.vn", "0x.vn"]
)
def test_names_are_left_for_connect_time(host: str) -> None:
    assert AddressGuard().check_host(host, 80) is None


@pytest.mark.parametrize(
    "host", ["metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "metadata.goog", "metadata"]
)
def test_metadata_names_are_refused_without_a_lookup(host: str) -> None:
    with pytest.raises(BlockedBySsrfPolicy, match="metadata"):
        AddressGuard(["0.0.0.0/0", "::/0"]).check_host(host, 80)


def test_the_allow_list_takes_networks_and_address_ports() -> None:
    guard = AddressGuard(["10.0.0.0/8", "127.0.0.1:8080", "[::1]:8443"])
    ip = ipaddress.ip_address
    guard.check_address(ip("10.20.30.40"), 5432)
    guard.check_address(ip("127.0.0.1"), 8080)
    guard.check_address(ip("::1"), 8443)
    for address, port in [("127.0.0.1", 8081), ("127.0.0.2", 8080), ("::1", 8080)]:
        with pytest.raises(BlockedBySsrfPolicy):
            guard.check_address(ip(address), port)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://2130706433:{port}/",
        "http://0x7f.1:{port}/",
        "http://017700000001:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://[::ffff:7f00:1]:{port}/",
        "http://[::1]:{port}/",
        "http://0.0.0.0:{port}/",
        "http://0:{port}/",
        "http://[::]:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a00:1::]/",
        "http://[fe80::1%25eth0]/",
        "http://localhost:{port}/",
    ],
)
async def test_forbidden_urls_are_refused_before_connecting(
    server: LocalServer, make_fetcher: Callable, url: str
) -> None:
    fetcher = make_fetcher(ssrf_allow=())
    with pytest.raises(BlockedBySsrfPolicy) as raised:
        await fetcher.fetch(url.format(port=server.port))
    assert raised.value.url == url.format(port=server.port)
    assert server.received == []


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["10.1.2.3"], "private"),
        (["169.254.169.254"], "cloud metadata"),
        (["fd00:ec2::254"], "cloud metadata"),
        (["::ffff:127.0.0.2"], "IPv4-mapped"),
        (["100.64.0.1"], "shared address space"),
        (["fd12::1"], "unique local"),
        # Every answer is vetted, not just the first.
        (["127.0.0.1", "10.0.0.1"], "private"),
        (["127.0.0.1", "::1"], "loopback"),
    ],
)
async def test_names_resolving_to_forbidden_addresses_are_refused(
    server: LocalServer, make_fetcher: Callable, answers: list[str], reason: str
) -> None:
    resolver = FakeResolver({"tin.test": answers})
    fetcher = make_fetcher(resolver=resolver)

    with pytest.raises(BlockedBySsrfPolicy, match=reason):
        await fetcher.fetch(f"http://tin.test:{server.port}/feed")

    assert resolver.lookups == ["tin.test"]
    assert server.received == []


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """The real backend, noting each host it is asked to connect to."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)


class RebindingResolver(FakeResolver):
    """Answers the allowed address once, then a private one: a DNS rebinding attack."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        answers = await super().resolve(host, port)
        self.answers[host] = ["10.0.0.1"]
        return answers


async def test_the_socket_connects_to_the_vetted_address_not_the_name(
    server: LocalServer,
) -> None:
    resolver = RebindingResolver({"news.test": ["127.0.0.1"]})
    recording = RecordingBackend()
    backend = GuardedNetworkBackend(
        AddressGuard(["127.0.0.1/32"]), resolver=resolver, inner=recording
    )

    stream = await backend.connect_tcp("news.test", server.port, timeout=2.0)
    await stream.aclose()
    with pytest.raises(BlockedBySsrfPolicy, match="private"):
        await backend.connect_tcp("news.test", server.port, timeout=2.0)

    # One lookup per connection, and the socket got the address that lookup vetted: a second
    # lookup by the connect itself is what a rebinding attack needs.
    assert resolver.lookups == ["news.test", "news.test"]
    assert recording.hosts == ["127.0.0.1"]


async def test_dns_rebinding_between_fetches_is_refused(
    server: LocalServer, make_fetcher: Callable
) -> None:
    # Connection: close, so that each request needs a new connection and so a new lookup.
    server.routes["/robots.txt"] = Reply(404, close=True)
    server.routes["/feed"] = Reply(body=b"ok", close=True)
    resolver = FakeResolver({"news.test": ["127.0.0.1"]})
    fetcher = make_fetcher(resolver=resolver)

    assert (await fetcher.fetch(f"http://news.test:{server.port}/feed")).body == b"ok"
    resolver.answers["news.test"] = ["169.254.169.254"]
    with pytest.raises(BlockedBySsrfPolicy, match="cloud metadata"):
        await fetcher.fetch(f"http://news.test:{server.port}/feed")

    assert server.paths() == ["/robots.txt", "/feed"]


async def test_the_host_header_keeps_the_name(server: LocalServer, make_fetcher: Callable) -> None:
    server.routes["/feed"] = Reply(body=b"ok")
    fetcher = make_fetcher(resolver=FakeResolver({"news.test": ["127.0.0.1"]}))

    await fetcher.fetch(f"http://news.test:{server.port}/feed")

    assert server.received[-1].headers["host"] == f"news.test:{server.port}"


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::1]:{v6_port}/",
        "http://localhost:{v6_port}/",
        "http://10.0.0.1/admin",
        "http://0x7f.1:{other_port}/",
        "file:///etc/passwd",
    ],
)
async def test_redirects_to_forbidden_addresses_are_refused(
    server: LocalServer, start_server: Callable, make_fetcher: Callable, location: str
) -> None:
    # Listening on ::1, so that only the guard stands between a redirect and a response.
    v6_server = await start_server("::1")
    resolver = FakeResolver({"localhost": ["::1"]})
    fetcher = make_fetcher(ssrf_allow=(f"127.0.0.1:{server.port}",), resolver=resolver)
    target = location.format(other_port=server.port + 1, v6_port=v6_server.port)
    server.routes["/go"] = Reply(302, headers={"Location": target})

    with pytest.raises(BlockedBySsrfPolicy):
        await fetcher.fetch(server.url("/go"))

    assert v6_server.received == []


async def test_robots_txt_fetches_are_guarded_too(
    server: LocalServer, make_fetcher: Callable
) -> None:
    server.routes["/robots.txt"] = Reply(301, headers={"Location": "http://169.254.169.254/"})
    fetcher = make_fetcher()

    with pytest.raises(BlockedBySsrfPolicy):
        await fetcher.fetch(server.url("/feed"))

    assert server.paths() == ["/robots.txt"]


async def test_proxy_variables_are_ignored(
    server: LocalServer,
    start_server: Callable,
    make_fetcher: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = await start_server()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy.url())
    server.routes["/feed"] = Reply(body=b"ok")

    assert (await make_fetcher().fetch(server.url("/feed"))).body == b"ok"
    assert proxy.received == []


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


def tls_server_context(ca: trustme.CA, name: str, seen_sni: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    context.sni_callback = lambda _socket, server_name, _context: seen_sni.append(server_name)
    return context


async def test_tls_verifies_the_certificate_for_the_name(
    start_server: Callable, make_fetcher: Callable, certificate_authority: trustme.CA
) -> None:
    seen_sni: list[str] = []
    server = await start_server(
        tls=tls_server_context(certificate_authority, "news.test", seen_sni)
    )
    server.routes["/feed"] = Reply(body=b"ok")
    client_context = ssl.create_default_context()
    certificate_authority.configure_trust(client_context)
    resolver = FakeResolver({"news.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    fetcher = make_fetcher(resolver=resolver, verify=client_context)

    result = await fetcher.fetch(f"https://news.test:{server.port}/feed")
    assert result.body == b"ok"
    assert server.received[-1].headers["host"] == f"news.test:{server.port}"

    # The same server under a name its certificate does not carry: refused, and not retried.
    with pytest.raises(CertificateError, match="CERTIFICATE_VERIFY_FAILED"):
        await fetcher.fetch(f"https://other.test:{server.port}/feed")
    assert seen_sni.count("other.test") == 1
    assert set(seen_sni[:-1]) == {"news.test"}


async def test_any_httpx_client_can_use_the_guard(server: LocalServer) -> None:
    server.routes["/hook"] = Reply(body=b"ok")
    server.routes["/bounce"] = Reply(307, headers={"Location": "http://169.254.169.254/"})
    resolver = FakeResolver({"hooks.test": ["127.0.0.1"], "intranet.test": ["192.168.1.10"]})
    transport = GuardedTransport(AddressGuard(["127.0.0.1/32"]), resolver=resolver)

    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        assert (await client.get(f"http://hooks.test:{server.port}/hook")).content == b"ok"
        with pytest.raises(BlockedBySsrfPolicy, match="private"):
            await client.get("http://intranet.test/hook")
        # Redirects that httpx follows by itself open their connections through the guard too.
        with pytest.raises(BlockedBySsrfPolicy, match="cloud metadata"):
            await client.get(server.url("/bounce"), follow_redirects=True)
        with pytest.raises(BlockedBySsrfPolicy, match="scheme"):
            await client.get("ftp://hooks.test/")
        with pytest.raises(httpx.ConnectError, match="cannot resolve"):
            await client.get("http://unknown.test/")


async def test_unix_sockets_are_refused() -> None:
    backend = GuardedNetworkBackend(AddressGuard(["0.0.0.0/0"]))
    with pytest.raises(BlockedBySsrfPolicy):
        await backend.connect_unix_socket("/var/run/docker.sock")


async def test_an_unresolvable_host_is_a_network_failure(make_fetcher: Callable) -> None:
    fetcher: Fetcher = make_fetcher(resolver=FakeResolver({}))
    # robots.txt cannot be fetched, so the origin is off limits for now (RFC 9309).
    with pytest.raises(RetryLater):
        await fetcher.fetch("http://no-such-site.test/feed")
