"""Run the nlp service with every Python-level connection off loopback refused and reported."""

import ipaddress
import runpy
import sys

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def _local(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str) or host in LOOPBACK_NAMES:
        return isinstance(host, str)
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    # 0.0.0.0 and :: are what a server binds to; connecting to them reaches this machine only.
    return address.is_loopback or address.is_unspecified


def _guard(event: str, args: tuple) -> None:
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not _local(host):
            print(f"loopback_only: refused a connection to {address!r}", file=sys.stderr)
            raise OSError(f"network access refused by the test: {address!r}")
    elif event == "socket.getaddrinfo" and args[0] is not None and not _local(args[0]):
        print(f"loopback_only: refused a connection to {args[0]!r}", file=sys.stderr)
        raise OSError(f"name resolution refused by the test: {args[0]!r}")


if __name__ == "__main__":
    sys.addaudithook(_guard)
    runpy.run_module("services.nlp", run_name="__main__", alter_sys=True)
