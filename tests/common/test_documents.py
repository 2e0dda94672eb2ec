"""Submission rules: every mistake is reported at once with a stable code."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.common.documents import MAX_TEXT_CHARS, validate_submission
from services.common.validation import InvalidInputError

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def codes(error: pytest.ExceptionInfo[InvalidInputError]) -> dict[str, str]:
    return {v.field: v.code for v in error.value.violations}


def test_valid_submission_is_normalised() -> None:
    vietnam = timezone(timedelta(hours=7))
    draft = validate_submission(
        text="  Người dân phản ánh rác thải  tràn ra đường. ",
        title="Rác\nthải",
        url="https://example.vn/bai-viet?id=1",
        published_at=datetime(2026, 11, 30, 9, 0, tzinfo=vietnam),
        now=NOW,
    )
    assert draft.text == "Người dân phản ánh rác thải tràn ra đường."
    assert draft.title == "Rác thải"
    assert draft.published_at == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert len(draft.content_hash) == 64


def test_every_violation_is_reported_together() -> None:
    with pytest.raises(InvalidInputError) as error:
        validate_submission(
            text=" \n ", url="javascript:alert(1)", published_at=NOW + timedelta(days=1), now=NOW
        )
    assert codes(error) == {"text": "REQUIRED", "url": "INVALID_URL", "publishedAt": "IN_FUTURE"}


def test_text_over_the_limit_is_refused() -> None:
    with pytest.raises(InvalidInputError) as error:
        validate_submission(text="a" * (MAX_TEXT_CHARS + 1), now=NOW)
    assert codes(error) == {"text": "TOO_LONG"}


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(InvalidInputError) as error:
        validate_submission(text="Tin nhắn", published_at=datetime(2026, 1, 1), now=NOW)
    assert codes(error) == {"publishedAt": "INVALID"}


def test_small_clock_skew_is_tolerated() -> None:
    draft = validate_submission(text="Tin mới", published_at=NOW + timedelta(minutes=2), now=NOW)
    assert draft.published_at is not None
