"""HTML fragments (feed summaries, JSON-LD bodies) to plain text and the images they show."""

from dataclasses import dataclass
from urllib.parse import urljoin

import lxml.etree
import lxml.html
import lxml.html.defs

from services.common.text import normalize_text

# Elements that end a line when rendered; their text must not run into the next element's.
_BLOCKS = lxml.html.defs.block_tags | {
    "article",
    "aside",
    "br",
    "figcaption",
    "figure",
    "footer",
    "header",
    "main",
    "nav",
    "section",
}
_INVISIBLE = ("script", "style", "noscript", "template", "iframe", "object", "svg")
# Lazy-loading pages put the real address in a data attribute and a placeholder in src.
IMAGE_ATTRIBUTES = ("data-src", "data-original", "data-lazy-src", "src")


@dataclass(frozen=True, slots=True)
class HtmlFragment:
    text: str
    images: tuple[str, ...]


def read_html_fragment(html: str, base_url: str | None = None) -> HtmlFragment:
    """The fragment's visible text, one line per block, normalised; its images' absolute URLs."""
    if "<" not in html and "&" not in html:
        return HtmlFragment(normalize_text(html), ())
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return HtmlFragment("", ())
    lxml.etree.strip_elements(root, *_INVISIBLE, lxml.etree.Comment, with_tail=False)
    images: dict[str, None] = {}
    for element in root.iter(lxml.etree.Element):
        if element.tag == "img" and (source := image_source(element, base_url)):
            images[source] = None
        if element.tag in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
    return HtmlFragment(normalize_text(root.text_content()), tuple(images))


def image_source(img: lxml.etree.ElementBase, base_url: str | None) -> str | None:
    """The absolute http(s) address an <img> shows, skipping inline data placeholders."""
    for attribute in IMAGE_ATTRIBUTES:
        value = (img.get(attribute) or "").strip()
        if value and not value.startswith("data:"):
            absolute = urljoin(base_url, value) if base_url else value
            return absolute if absolute.startswith(("http://", "https://")) else None
    return None
