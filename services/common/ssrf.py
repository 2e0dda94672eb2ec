"""SSRF guard: outbound HTTP reaches only public addresses, checked when each socket connects.

The check sits in the httpcore network backend, so it runs for every connection a client opens,
redirect hops included, and for nothing else: a name is resolved once, every answer is vetted,
and the socket connects to a vetted address (pinned), so a DNS answer that changes between the
check and the connect (rebinding) cannot slip through. The URL keeps its hostname, so the Host
header, TLS SNI and certificate verification are still about the name.

Any httpx client can use it (the ingest fetcher, the gateway's webhooks)::

    httpx.AsyncClient(transport=GuardedTransport(AddressGuard()), trust_env=False)
"""

import asyncio
import ipaddress
import socket
import ssl
import string
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import httpcore
import httpx


class BlockedBySsrfPolicy(Exception):
    """The URL's scheme, host or resolved address is one outbound requests may not reach."""


type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Names of cloud metadata services, refused before any lookup; their addresses are refused too.
METADATA_HOSTNAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
)

_net = ipaddress.ip_network
# Checked in order; the first network that holds an address names why it is refused.
FORBIDDEN_NETWORKS: tuple[tuple[IPNetwork, str], ...] = (
    (_net("169.254.169.254/32"), "cloud metadata service"),
    (_net("fd00:ec2::254/128"), "cloud metadata service"),
    (_net("0.0.0.0/8"), "unspecified ('this network')"),
    (_net("10.0.0.0/8"), "private (RFC 1918)"),
    (_net("100.64.0.0/10"), "shared address space (RFC 6598)"),
    (_net("127.0.0.0/8"), "loopback"),
    (_net("169.254.0.0/16"), "link-local"),
    (_net("172.16.0.0/12"), "private (RFC 1918)"),
    (_net("192.0.0.0/24"), "IETF protocol assignments"),
    (_net("192.0.2.0/24"), "documentation"),
    (_net("192.88.99.0/24"), "6to4 relay anycast"),
    (_net("192.168.0.0/16"), "private (RFC 1918)"),
    (_net("198.18.0.0/15"), "benchmarking"),
    (_net("198.51.100.0/24"), "documentation"),
    (_net("203.0.113.0/24"), "documentation"),
    (_net("224.0.0.0/4"), "multicast"),
    (_net("240.0.0.0/4"), "reserved"),
    (_net("::/128"), "unspecified"),
    (_net("::1/128"), "loopback"),
    (_net("64:ff9b:1::/48"), "local-use NAT64"),
    (_net("100::/64"), "discard-only"),
    (_net("2001::/32"), "Teredo"),
    (_net("2001:db8::/32"), "documentation"),
    (_net("fc00::/7"), "unique local (RFC 4193)"),
    (_net("fe80::/10"), "link-local"),
    (_net("fec0::/10"), "site-local"),
    (_net("ff00::/8"), "multicast"),
)
_IPV4_COMPATIBLE = _net("::/96")
_NAT64 = _net("64:ff9b::/96")
_SIX_TO_FOUR = _net("2002::/16")


def forbidden_reason(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            kind, ipv4 = embedded
            reason = forbidden_reason(ipv4)
            return f"{kind} of {ipv4}, {reason}" if reason else None
    for network, reason in FORBIDDEN_NETWORKS:
        if address in network:
            return reason
    # Whatever IANA lists as not globally reachable that the table above does not name.
    return None if address.is_global else "not globally reachable"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for, which is what must be judged."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return "NAT64", low32
    # :: and ::1 are themselves, not IPv4-compatible forms of 0.0.0.0 and 0.0.0.1.
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return "IPv4-compatible", low32
    return None


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address of a host written in a numeric IPv4 form, as browsers and inet_aton read it.

    ``2130706433``, ``0x7f.1`` and ``017700000001`` all mean 127.0.0.1 to the system resolver;
    the WHATWG URL standard reads them the same way. None when the host is a name.
    """
    labels = host.split(".")
    if not _is_ipv4_number(labels[-1]):
        return None
    numbers = [_ipv4_number(label) for label in labels]
    if len(numbers) > 4 or None in numbers:
        raise BlockedBySsrfPolicy(f"host {host!r} is neither a name nor an IPv4 address")
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise BlockedBySsrfPolicy(f"host {host!r} is an out-of-range IPv4 address")
    value = last + sum(n << (8 * (3 - i)) for i, n in enumerate(leading))
    return ipaddress.IPv4Address(value)


def _is_ipv4_number(label: str) -> bool:
    if label[:2].lower() == "0x":
        return all(c in string.hexdigits for c in label[2:])
    return label.isascii() and label.isdigit()


def _ipv4_number(label: str) -> int | None:
    if label[:2].lower() == "0x":
        digits, base = label[2:] or "0", 16
    elif len(label) > 1 and label.startswith("0"):
        digits, base = label[1:], 8
    else:
        digits, base = label, 10
    try:
        return int(digits, base) if digits.isascii() and digits.isalnum() else None
    except ValueError:
        return None


class AddressGuard:
    """Decides which hosts and addresses outbound connections may reach."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        # (network, port or None for any port); these may be reached although forbidden.
        self._allowed = tuple(_parse_allowed(entry) for entry in allow)

    def check_url(self, url: httpx.URL) -> None:
        """Refuse a URL by its scheme or literal host; names are checked at connect time."""
        if url.scheme not in ALLOWED_SCHEMES:
            raise BlockedBySsrfPolicy(f"scheme {url.scheme!r} is not allowed")
        if not url.raw_host:
            raise BlockedBySsrfPolicy("URL has no host")
        port = url.port or (443 if url.scheme == "https" else 80)
        self.check_host(url.raw_host.decode("ascii"), port)

    def check_host(self, host: str, port: int) -> IPAddress | None:
        """The address a literal host stands for, checked; None when the host must be resolved."""
        name = host.lower().removesuffix(".")
        if name in METADATA_HOSTNAMES:
            raise BlockedBySsrfPolicy(f"{host} is a cloud metadata service")
        if ":" in name:
            try:
                address: IPAddress | None = ipaddress.IPv6Address(name)
            except ValueError:
                raise BlockedBySsrfPolicy(f"host {host!r} is not a valid IPv6 address") from None
        else:
            address = _legacy_ipv4(name)
        if address is not None:
            self.check_address(address, port, host=host)
        return address

    def check_address(self, address: IPAddress, port: int, *, host: str = "") -> None:
        if self.is_allowed(address, port):
            return
        reason = forbidden_reason(address)
        if reason is not None:
            shown = f"{host} ({address})" if host and host != str(address) else str(address)
            raise BlockedBySsrfPolicy(f"{shown} is {reason}")

    def is_allowed(self, address: IPAddress, port: int) -> bool:
        return any(
            address in network and allowed_port in (None, port)
            for network, allowed_port in self._allowed
        )


def _parse_allowed(entry: str) -> tuple[IPNetwork, int | None]:
    """``10.0.0.0/8`` or ``::1`` (any port), ``127.0.0.1:8080`` or ``[::1]:8080`` (that port)."""
    if entry.startswith("["):
        address, _, port = entry[1:].partition("]:")
        return ipaddress.ip_network(address), int(port)
    if entry.count(":") == 1:
        address, _, port = entry.partition(":")
        return ipaddress.ip_network(address), int(port)
    return ipaddress.ip_network(entry), None


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every address ``host`` has, in the order to try them; raise OSError when none."""
        ...


class SystemResolver:
    """The operating system's resolver (getaddrinfo), off the event loop."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # dict.fromkeys: drop duplicates, keep the resolver's preference order.
        return list(dict.fromkeys(ipaddress.ip_address(a[4][0]) for a in answers))


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves, vets every answer, and connects to a vetted address, never to the name."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._guard = guard
        self._resolver = resolver or SystemResolver()
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = await self._vetted_addresses(host, port, timeout)
        failure: Exception = httpcore.ConnectError(f"no address to connect to for {host}")
        for address in addresses:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def _vetted_addresses(
        self, host: str, port: int, timeout_s: float | None
    ) -> Sequence[IPAddress]:
        literal = self._guard.check_host(host, port)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(timeout_s):
                addresses = await self._resolver.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        # Every answer, not only the first: a resolver may hand the next connect another one.
        for address in addresses:
            self._guard.check_address(address, port, host=host)
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedBySsrfPolicy("Unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connections opened through a GuardedNetworkBackend.

    It never uses a proxy: a proxy would connect on our behalf, past the guard. A client given
    this transport already ignores proxy variables; pass ``trust_env=False`` all the same.
    """

    def __init__(
        self,
        guard: AddressGuard,
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
        http2: bool = False,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(verify=verify, trust_env=False, limits=limits, http2=http2)
        self._guard = guard
        # httpx 0.28 offers no way to hand its pool a network backend, so the pool it built
        # (private ``_pool``, the one httpx internal relied on) is swapped for an identical one
        # that has ours. Fail closed if a future httpx keeps its pool elsewhere.
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("this httpx version keeps its connection pool elsewhere")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=GuardedNetworkBackend(guard, resolver=resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Refuse a bad scheme or literal address before a connection is even looked for.
        self._guard.check_url(request.url)
        return await super().handle_async_request(request)
