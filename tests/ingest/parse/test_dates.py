"""Vietnamese, ISO, RFC 2822 and relative dates, read in Ho Chi Minh City time, given in UTC."""

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.parse.dates import parse_date

# 10:00 on Tuesday 27 February 2024 in Ho Chi Minh City.
NOW = datetime(2024, 2, 27, 3, 0, tzinfo=UTC)


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Day first, as Vietnamese sites print dates; 06:43 in Vietnam is 23:43 UTC the day before.
        ("Thứ ba, 27/02/2024 - 06:43", utc(2024, 2, 26, 23, 43)),
        ("27-02-2024 06:43 GMT+7", utc(2024, 2, 26, 23, 43)),
        ("27/2/2024 6:43 (GMT+07:00)", utc(2024, 2, 26, 23, 43)),
        ("06:43 27/02/2024", utc(2024, 2, 26, 23, 43)),
        ("Cập nhật lúc 06h43 ngày 27.02.2024", utc(2024, 2, 26, 23, 43)),
        ("27/02/2024, 06:43:15", utc(2024, 2, 26, 23, 43, 15)),
        ("26/02/2024 3:15 chiều", utc(2024, 2, 26, 8, 15)),
        ("26/02/2024 3:15 PM", utc(2024, 2, 26, 8, 15)),
        ("27/02/24 06:43", utc(2024, 2, 26, 23, 43)),
        ("2024/02/27 06:43", utc(2024, 2, 26, 23, 43)),
        ("Thứ Hai, ngày 26 tháng 2 năm 2024", utc(2024, 2, 25, 17, 0)),
        ("26 tháng 02, 2024", utc(2024, 2, 25, 17, 0)),
        ("26/02/2024 06:43 GMT+0", utc(2024, 2, 26, 6, 43)),
        # ISO 8601.
        ("2024-02-27T06:43:00+07:00", utc(2024, 2, 26, 23, 43)),
        ("2024-02-26T23:43:00Z", utc(2024, 2, 26, 23, 43)),
        ("2024-02-27T06:43:00.250+07:00", datetime(2024, 2, 26, 23, 43, 0, 250000, tzinfo=UTC)),
        ("2024-02-27T06:43:00", utc(2024, 2, 26, 23, 43)),
        ("2024-02-27 06:43", utc(2024, 2, 26, 23, 43)),
        ("2024-02-26", utc(2024, 2, 25, 17, 0)),
        ("2024-02-27 06:43 GMT+7", utc(2024, 2, 26, 23, 43)),
        # RFC 2822, as RSS writes them.
        ("Tue, 27 Feb 2024 06:43:00 +0700", utc(2024, 2, 26, 23, 43)),
        ("Mon, 26 Feb 2024 23:43:00 GMT", utc(2024, 2, 26, 23, 43)),
        ("Mon, 26 Feb 2024 23:43:00 -0000", utc(2024, 2, 26, 23, 43)),
        ("Tue, 27 Feb 2024 06:43:00", utc(2024, 2, 26, 23, 43)),
        # Relative to NOW.
        ("vừa xong", NOW),
        ("Vừa mới", NOW),
        ("30 phút trước", NOW - timedelta(minutes=30)),
        ("2 giờ trước", NOW - timedelta(hours=2)),
        ("3 tiếng trước", NOW - timedelta(hours=3)),
        ("1 ngày trước", NOW - timedelta(days=1)),
        ("2 tuần trước", NOW - timedelta(weeks=2)),
        ("Cập nhật 45 giây trước", NOW - timedelta(seconds=45)),
        ("hôm qua", NOW - timedelta(days=1)),
        ("Hôm qua lúc 14:30", utc(2024, 2, 26, 7, 30)),
        ("14:30 hôm qua", utc(2024, 2, 26, 7, 30)),
        ("hôm nay 08:15", utc(2024, 2, 27, 1, 15)),
        ("hôm kia", NOW - timedelta(days=2)),
        # Decomposed Vietnamese (NFD), as some CMSs store it.
        (
            unicodedata.normalize("NFD", "Thứ Hai, ngày 26 tháng 2 năm 2024"),
            utc(2024, 2, 25, 17, 0),
        ),
    ],
)
def test_parses_to_utc(text: str, expected: datetime) -> None:
    assert parse_date(text, now=NOW) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Đô thị",
        "06:43",  # a time without a day
        "31/02/2024",
        "27/13/2024 06:43",
        "27/02/2024 25:10",
        "2024-02-30T10:00:00",
        "Tue, 31 Feb 2024 06:43:00 +0700",
        "01/01/1970 00:00",  # a zero timestamp, not a publication date
    ],
)
def test_no_date_gives_none(text: str) -> None:
    assert parse_date(text, now=NOW) is None


@pytest.mark.parametrize(
    "text",
    [
        "27/02/2024 10:06",  # six minutes ahead: beyond the five of clock skew
        "Thứ tư, 28/02/2024 - 06:43",
        "2030-01-01T00:00:00Z",
        "Wed, 27 Feb 2030 09:00:00 +0700",
    ],
)
def test_future_dates_give_none(text: str) -> None:
    assert parse_date(text, now=NOW) is None


def test_small_clock_skew_is_tolerated() -> None:
    assert parse_date("27/02/2024 10:04", now=NOW) == utc(2024, 2, 27, 3, 4)
    assert parse_date("27/02/2024 10:04", now=NOW, future_tolerance=timedelta(0)) is None


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_date("2 giờ trước", now=datetime(2024, 2, 27, 10, 0))
