"""What a valid document is: the rules ingest enforces and every caller is told about."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from services.common.text import content_hash, normalize_text
from services.common.validation import FieldViolation, InvalidInputError

MAX_TEXT_CHARS = 100_000
MAX_TITLE_CHARS = 1_000
MAX_URL_CHARS = 2_048
# Publishers' clocks drift; a few minutes ahead is a clock, not a document from the future.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class DocumentDraft:
    """A normalised, validated document ready to be stored."""

    text: str
    title: str
    url: str | None
    published_at: datetime | None
    content_hash: str


def validate_submission(
    *,
    text: str,
    title: str = "",
    url: str = "",
    published_at: datetime | None = None,
    now: datetime | None = None,
) -> DocumentDraft:
    """Normalise a submission and check every rule at once, so the caller sees all its mistakes."""
    now = now or datetime.now(UTC)
    violations: list[FieldViolation] = []
    text = normalize_text(text)
    title = normalize_text(title).replace("\n", " ")
    url = url.strip()

    if not text:
        violations.append(FieldViolation("text", "REQUIRED", "text must not be empty"))
    elif len(text) > MAX_TEXT_CHARS:
        violations.append(
            FieldViolation(
                "text",
                "TOO_LONG",
                f"text has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}",
            )
        )
    if len(title) > MAX_TITLE_CHARS:
        violations.append(
            FieldViolation(
                "title", "TOO_LONG", f"title is longer than {MAX_TITLE_CHARS:,} characters"
            )
        )
    if url:
        problem = _url_problem(url)
        if problem:
            violations.append(FieldViolation("url", "INVALID_URL", problem))
    if published_at is not None:
        if published_at.tzinfo is None:
            violations.append(
                FieldViolation("publishedAt", "INVALID", "publishedAt must carry a time zone")
            )
        elif published_at > now + FUTURE_TOLERANCE:
            violations.append(
                FieldViolation(
                    "publishedAt",
                    "IN_FUTURE",
                    f"publishedAt {published_at.isoformat()} is in the future",
                )
            )
    if violations:
        raise InvalidInputError(violations)
    return DocumentDraft(
        text=text,
        title=title,
        url=url or None,
        published_at=published_at.astimezone(UTC) if published_at else None,
        content_hash=content_hash(text),
    )


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_CHARS:
        return f"url is longer than {MAX_URL_CHARS:,} characters"
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return f"url is not a valid URL: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must be an absolute http or https URL"
    return None
