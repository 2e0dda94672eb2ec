"""Analytics over a filter: volume and sentiment over time, in Ho Chi Minh City's calendar."""

from datetime import datetime, timedelta
from enum import Enum

import strawberry

from services.gateway.schema.context import Info
from services.gateway.schema.document import VIETNAM, DocumentFilterInput
from services.gateway.schema.errors import bad_input

MAX_BUCKETS = 2_000


@strawberry.enum(description="Calendar buckets in Asia/Ho_Chi_Minh; weeks start on Monday.")
class TimeBucket(Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


@strawberry.type(description="Documents in one bucket of time, by sentiment.")
class TimelinePoint:
    start: datetime
    total: int
    negative: int
    neutral: int
    positive: int
    unanalysed: int = strawberry.field(description="Stored, not analysed yet.")


async def sentiment_timeline(
    info: Info, bucket: TimeBucket = TimeBucket.DAY, filter: DocumentFilterInput | None = None
) -> list[TimelinePoint]:
    """Volume and sentiment over time for the documents matching ``filter``."""
    flt = (filter or DocumentFilterInput()).to_filter()
    # Hours are counted as such; days are counted, then folded into weeks here, so that week
    # boundaries follow the city's calendar whatever the database's week functions do.
    unit = "hour" if bucket is TimeBucket.HOUR else "day"
    counts = await info.context.documents.sentiment_counts(flt, unit=unit, timezone=str(VIETNAM))
    points: dict[datetime, TimelinePoint] = {}
    for key, by_label in counts:
        start = datetime.fromisoformat(key).replace(tzinfo=VIETNAM)
        if bucket is TimeBucket.WEEK:
            start -= timedelta(days=start.weekday())
        point = points.setdefault(
            start,
            TimelinePoint(start=start, total=0, negative=0, neutral=0, positive=0, unanalysed=0),
        )
        point.negative += by_label.get("NEGATIVE", 0)
        point.neutral += by_label.get("NEUTRAL", 0)
        point.positive += by_label.get("POSITIVE", 0)
        point.unanalysed += by_label.get(None, 0)
        point.total += sum(by_label.values())
    if len(points) > MAX_BUCKETS:
        raise bad_input(f"more than {MAX_BUCKETS} buckets: narrow the time range")
    return [points[start] for start in sorted(points)]
