"""Fetched HTML and XML bytes to text, or a typed refusal when the bytes cannot be read truly."""

import codecs
import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer

_BOMS = (
    # UTF-32 first: its little-endian mark begins with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Browsers read these labels as windows-1252 (WHATWG Encoding), and so do the pages' authors.
_WINDOWS_1252_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii"})
_WINDOWS_1252_LABELS |= {"us-ascii", "iso_8859-1", "cp819", "ibm819", "iso-ir-100"}
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([\w.:-]+)[\"']")
# The HTML standard's prescan reads 1,024 bytes; Vietnamese CMSs put long <head>s before <meta>.
_PRESCAN_BYTES = 8192

# Signs that decoded text is not what its author wrote. They are all latin-1 characters, so they
# are counted on the page's non-ASCII latin-1 bytes: a few kilobytes, gathered in two C passes.
# UTF-8 read as windows-1252 or latin-1 ("đường" -> "Ä‘Æ°á»ng"): the lead bytes of Vietnamese
# letters, C3-C6, become letters no Vietnamese word has, and E1 BA / E1 BB become "áº" / "á»".
_MOJIBAKE_LEADS = b"\xc3\xc4\xc5\xc6"
_MOJIBAKE_PAIRS = (b"\xe1\xba", b"\xe1\xbb")
# TCVN3 (the "ABC" .Vn fonts) puts à, á, ả, ạ, ă, ơ, ê on latin-1 symbols: "Thµnh phè", "ph¸t".
_TCVN3_SYMBOLS = b"\xb5\xb8\xb6\xb9\xa8\xac\xaa"
# VNI writes marks as latin-1 letters after a plain one, ư as ö and đ as ñ: "Vieät", "ñöôøng".
_VNI_LETTERS = b"\xf8\xfb\xef\xf6\xf1"
_NOT_C1_CONTROLS = bytes(range(0xA0, 0x100))
_ASCII = bytes(range(0x80))
_MIN_SIGNS = 5
# Garbage has a sign in most of its non-ASCII characters, real text next to none.
_MAX_SIGNS_PER_NON_ASCII = 0.1
# A font encoding shows several of its letters; one alone is a foreign name ("Bjørn", "Peña")
# or a unit ("µg").
_MIN_DISTINCT_FONT_LETTERS = 3
# A declared UTF-8 page may carry one undecodable byte per this many characters.
_MAX_STRAY_BYTES_PER = 1000


class UndecodableContent(ValueError):
    """Bytes that cannot be turned into true text: quarantine and count them, never store them.

    ``reason`` is one of a few fixed words, fit for a metric label: "undetected", "mojibake",
    "tcvn3", "vni", "replacement-characters", "control-characters".
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str
    # Python's codec name, e.g. "utf-8", "cp1258".
    encoding: str
    # What decided it: "bom", "http", "document", "content" (valid UTF-8 under a legacy label)
    # or "detected".
    source: str


def decode_markup(data: bytes, content_type: str | None = None) -> DecodedText:
    """Decode HTML or XML: byte-order mark, then HTTP charset, then the document's own
    declaration, then detection; the result in NFC.

    Raises UndecodableContent when nothing decodes the bytes, or when what they decode to is
    mojibake, a TCVN3 or VNI font encoding, or full of replacement or control characters.
    """
    decoded = _decode(data, content_type)
    # windows-1258 writes tones as combining marks; NFC makes them the letters UTF-8 pages use.
    text = unicodedata.normalize("NFC", decoded.text)
    check_readable(text)
    return DecodedText(text, decoded.encoding, decoded.source)


def check_readable(text: str) -> None:
    """Raise UndecodableContent when decoded text is not what its author wrote."""
    latin1 = text.encode("latin-1", "ignore")
    high = latin1.translate(None, _ASCII)
    non_ascii = len(text) - len(latin1) + len(high)
    tcvn3 = [high.count(symbol) for symbol in _TCVN3_SYMBOLS]
    vni = [high.count(letter) for letter in _VNI_LETTERS]
    signs = (
        (
            "mojibake",
            sum(map(high.count, _MOJIBAKE_PAIRS))
            + sum(high.count(lead) for lead in _MOJIBAKE_LEADS),
        ),
        ("tcvn3", sum(tcvn3) if _distinct(tcvn3) >= _MIN_DISTINCT_FONT_LETTERS else 0),
        ("vni", sum(vni) if _distinct(vni) >= _MIN_DISTINCT_FONT_LETTERS else 0),
        ("replacement-characters", text.count("\ufffd")),
        ("control-characters", len(high.translate(None, _NOT_C1_CONTROLS))),
    )
    for reason, count in signs:
        if count >= _MIN_SIGNS and count >= non_ascii * _MAX_SIGNS_PER_NON_ASCII:
            raise UndecodableContent(reason, f"{count} signs in {non_ascii} non-ASCII characters")


def _distinct(counts: list[int]) -> int:
    return sum(1 for count in counts if count)


def _decode(data: bytes, content_type: str | None) -> DecodedText:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedText(data[len(bom) :].decode(encoding), encoding, "bom")
            except UnicodeDecodeError as error:
                raise UndecodableContent("undetected", f"invalid {encoding} after BOM") from error

    as_utf8 = _utf8_or_none(data)
    declarations = (
        ("http", _http_charset(content_type)),
        ("document", _document_charset(data[:_PRESCAN_BYTES])),
    )
    for source, encoding in declarations:
        if encoding is None:
            continue
        if as_utf8 is not None and not encoding.startswith(("utf-16", "utf-32")):
            # Servers label UTF-8 as iso-8859-1 by default, while legacy text is almost never
            # valid UTF-8 by chance: the bytes outvote the label.
            as_labelled = encoding == "utf-8" or data.isascii()
            return DecodedText(as_utf8, "utf-8", source if as_labelled else "content")
        if encoding == "utf-8":
            # A page of UTF-8 with a stray byte or two (a cut-off excerpt) is still that page.
            lenient = data.decode("utf-8", "replace")
            if lenient.count("\ufffd") * _MAX_STRAY_BYTES_PER <= len(lenient):
                return DecodedText(lenient, encoding, source)
            continue
        try:
            return DecodedText(data.decode(encoding), encoding, source)
        except UnicodeDecodeError:
            continue  # a wrong label: the next clue may be right

    if as_utf8 is not None:
        return DecodedText(as_utf8, "ascii" if data.isascii() else "utf-8", "detected")
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise UndecodableContent("undetected", "no charset decodes these bytes")
    return DecodedText(str(best), codecs.lookup(best.encoding).name, "detected")


def _http_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _HTTP_CHARSET.search(content_type)
    return _codec(match[1]) if match else None


def _document_charset(head: bytes) -> str | None:
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    if match is None:
        return None
    encoding = _codec(match[1].decode("ascii"))
    # A declaration readable as ASCII cannot be in UTF-16 or UTF-32; browsers take UTF-8.
    if encoding is not None and encoding.startswith(("utf-16", "utf-32")):
        return "utf-8"
    return encoding


def _codec(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if label in _WINDOWS_1252_LABELS:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _utf8_or_none(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
