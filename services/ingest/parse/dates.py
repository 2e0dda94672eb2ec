"""Publication dates as Vietnamese sites and feeds write them, read in Ho Chi Minh City time."""

import email.utils
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
# Clocks of publishers and of this machine disagree by a little; more than this is a wrong date.
FUTURE_TOLERANCE = timedelta(minutes=5)
# No Vietnamese news site is older; earlier dates are zero timestamps or typos.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_RFC2822_MONTH = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b")
_JUST_NOW = re.compile(r"^(vừa xong|vừa mới|mới đây|mới cập nhật)$")
_AGO = re.compile(r"(\d+)\s*(giây|phút|giờ|tiếng|ngày|tuần|tháng|năm)\s*trước")
_AGO_UNITS = {
    "giây": timedelta(seconds=1),
    "phút": timedelta(minutes=1),
    "giờ": timedelta(hours=1),
    "tiếng": timedelta(hours=1),
    "ngày": timedelta(days=1),
    "tuần": timedelta(weeks=1),
    # Sites round these; a month or a year ago is as precise as they are.
    "tháng": timedelta(days=30),
    "năm": timedelta(days=365),
}
_DAYS_BACK = {"hôm nay": 0, "hôm qua": 1, "hôm kia": 2}
_DAY_WORD = re.compile("|".join(_DAYS_BACK))
_OFFSET = re.compile(r"\(?\s*(?:gmt|utc)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?\s*\)?")
_TIME = re.compile(
    r"(?<!\d)(\d{1,2})\s*(?::|h|giờ)\s*(\d{2})(?:\s*:\s*(\d{2}))?'?"
    r"(?:\s*(am|pm|sáng|trưa|chiều|tối))?(?!\d)"
)
_DAY_MONTH_YEAR = re.compile(r"(?<!\d)(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4}|\d{2})(?!\d)")
_YEAR_MONTH_DAY = re.compile(r"(?<!\d)(\d{4})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{1,2})(?!\d)")
_WORDED_DATE = re.compile(r"(\d{1,2})\s*tháng\s*(\d{1,2})\s*(?:năm|,)?\s*(\d{4})")
_AFTERNOON = {"pm", "chiều", "tối"}


def parse_date(
    text: str, *, now: datetime, future_tolerance: timedelta = FUTURE_TOLERANCE
) -> datetime | None:
    """An aware UTC datetime, or None when the text holds no date or one that cannot be true.

    Accepts ISO 8601, RFC 2822, day-first Vietnamese forms ("Thứ ba, 27/02/2024 - 06:43",
    "27/2/2024 6:43 (GMT+07:00)", "ngày 27 tháng 2 năm 2024") and relative ones ("2 giờ trước",
    "hôm qua", "vừa xong"), those against ``now``. Without an offset, a time is Ho Chi Minh
    City's. A date after ``now + future_tolerance`` or before 1990 gives None rather than an
    error: such dates are common (scheduled posts, wrong years) and the caller's remedy is the
    same as for a missing one, the time it first saw the document.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stripped = unicodedata.normalize("NFC", text).strip()
    if not stripped:
        return None
    lowered = " ".join(stripped.lower().split())
    parsed = (
        _relative(lowered, now)
        or _iso_8601(stripped)
        or _rfc_2822(stripped, lowered)
        or _day_first(lowered)
    )
    if parsed is None:
        return None
    parsed = parsed.astimezone(UTC)
    if parsed > now + future_tolerance or parsed < EARLIEST:
        return None
    return parsed


def _relative(text: str, now: datetime) -> datetime | None:
    if _JUST_NOW.match(text):
        return now
    if match := _AGO.search(text):
        return now - int(match[1]) * _AGO_UNITS[match[2]]
    if match := _DAY_WORD.search(text):
        day = now.astimezone(VIETNAM) - timedelta(days=_DAYS_BACK[match[0]])
        clock = _TIME.search(text)
        if clock is None:
            return day
        hour, minute, second = _clock(clock)
        try:
            return day.replace(hour=hour, minute=minute, second=second, microsecond=0)
        except ValueError:
            return None
    return None


def _iso_8601(text: str) -> datetime | None:
    if not _ISO.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VIETNAM)


def _rfc_2822(text: str, lowered: str) -> datetime | None:
    if not _RFC2822_MONTH.search(lowered):
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is not None:
        return parsed
    # "-0000" says UTC of an unknown place; no offset at all is, from these sites, local time.
    return parsed.replace(tzinfo=UTC if "-0000" in text else VIETNAM)


def _day_first(text: str) -> datetime | None:
    zone: tzinfo = VIETNAM
    if offset := _OFFSET.search(text):
        sign = -1 if offset[1] == "-" else 1
        zone = timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3] or 0)))
        # Removed so that the "07:00" of "GMT+07:00" is not read as the time of day.
        text = text[: offset.start()] + " " + text[offset.end() :]
    if match := _DAY_MONTH_YEAR.search(text) or _WORDED_DATE.search(text):
        day, month, year = int(match[1]), int(match[2]), int(match[3])
    elif match := _YEAR_MONTH_DAY.search(text):
        year, month, day = int(match[1]), int(match[2]), int(match[3])
    else:
        return None
    if year < 100:
        year += 2000
    # The time is looked for outside the date, so that "27.02" never reads as 27:02.
    rest = text[: match.start()] + " " + text[match.end() :]
    hour, minute, second = _clock(clock) if (clock := _TIME.search(rest)) else (0, 0, 0)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None


def _clock(match: re.Match[str]) -> tuple[int, int, int]:
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4] in _AFTERNOON and hour < 12:
        hour += 12
    elif match[4] == "am" and hour == 12:
        hour = 0
    return hour, minute, second
