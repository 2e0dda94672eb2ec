"""Canonical URLs: one spelling per page, so that the same article is stored and counted once."""

import posixpath
import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import idna
from tld import get_fld

# Parameters that say who shared a link or which campaign it came from, never which page it is.
# Zalo, the messenger most Vietnamese share news through, adds zarsrc, zacc and gidzl.
TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "__twitter_impression",
        "zarsrc",
        "zacc",
        "gidzl",
        "spm",
        "vero_id",
        "mkt_tok",
    }
)
TRACKING_PREFIXES = ("utm_", "itm_", "pk_", "mtm_")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Characters a path or query keeps as they are; everything else is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;="
_QUERY_SAFE = "/:@!$'()*,;"


class InvalidUrl(ValueError):
    """Not an absolute http(s) URL with a host: nothing the ingest service can fetch or store."""


def canonicalize_url(url: str) -> str:
    """The one spelling of ``url`` that ingest stores.

    Lower-case scheme and host (IDN hosts in their ASCII form), no default port, no user info,
    no fragment, no tracking parameters, the remaining parameters sorted, dot segments resolved
    and percent-encoding in one form (unreserved characters plain, other escapes upper-case).
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidUrl(f"not an http(s) URL: {url!r}")
    host = _ascii_host(parts.hostname or "", url)
    try:
        port = parts.port
    except ValueError as error:
        raise InvalidUrl(f"bad port in {url!r}") from error
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, _path(parts.path), _query(parts.query), ""))


def registrable_domain(url: str) -> str | None:
    """The domain a registrant owns ("tuoitre.vn", "tphcm.gov.vn"), by the Public Suffix List."""
    return get_fld(url, fail_silently=True)


def choose_canonical(fetched_url: str, declared: str | None) -> str:
    """The page's own canonical URL when it names one on the same registrable domain, else ours.

    A canonical on another domain is ignored: a copied or hostile page could otherwise claim
    to be another outlet's article and be merged with it.
    """
    ours = canonicalize_url(fetched_url)
    if not declared or not declared.strip():
        return ours
    try:
        theirs = canonicalize_url(urljoin(ours, declared.strip()))
    except InvalidUrl:
        return ours
    same_owner = registrable_domain(theirs)
    if same_owner is not None and same_owner == registrable_domain(ours):
        return theirs
    return ours


def _ascii_host(host: str, url: str) -> str:
    host = host.rstrip(".")
    if not host:
        raise InvalidUrl(f"no host in {url!r}")
    if ":" in host:
        return f"[{host.lower()}]"
    if host.isascii():
        return host.lower()
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise InvalidUrl(f"bad international host in {url!r}") from error


def _path(path: str) -> str:
    if not path:
        return "/"
    resolved = posixpath.normpath(path)
    # normpath drops a trailing slash and keeps a leading "//", and both change the page.
    if path.endswith("/") and resolved != "/":
        resolved += "/"
    if resolved.startswith("//"):
        resolved = "/" + resolved.lstrip("/")
    return quote(_decode_unreserved(resolved), safe=_PATH_SAFE + "%")


def _query(query: str) -> str:
    if not query:
        return ""
    # Latin-1 maps each byte to one character and back, so escapes of any charset survive as
    # they came; raw non-ASCII characters are first escaped as UTF-8, as browsers send them.
    escaped = quote(query, safe="".join(map(chr, range(0x21, 0x7F))))
    pairs = parse_qsl(escaped, keep_blank_values=True, encoding="latin-1")
    kept = sorted((key, value) for key, value in pairs if not _is_tracking(key))
    return urlencode(kept, quote_via=quote, safe=_QUERY_SAFE, encoding="latin-1")


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in TRACKING_PARAMETERS or key.startswith(TRACKING_PREFIXES)


def _decode_unreserved(text: str) -> str:
    """Plain unreserved characters, and the other escapes upper-case: %7e -> ~, %2f -> %2F."""

    def one(match: re.Match[str]) -> str:
        byte = int(match[1], 16)
        return chr(byte) if byte in _UNRESERVED else f"%{match[1].upper()}"

    return _PERCENT_ESCAPE.sub(one, text)
