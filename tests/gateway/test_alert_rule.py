"""The spike rule: Ho Chi Minh City hours, EWMA baselines (seasonal, then overall), thresholds."""

from datetime import UTC, datetime, timedelta

from services.gateway.alerts import (
    ALPHA,
    NEGATIVE_SHIFT,
    SEASONAL_MIN_WEEKS,
    VOLUME_SPIKE,
    AlertRule,
    Expectation,
    HourStats,
    expectation,
    fold,
    hour_of_week,
    hour_start,
    judge,
)

RULE = AlertRule(min_count=20, volume_factor=3.0, negative_share_min=0.5, negative_share_rise=0.25)


def test_hours_are_ho_chi_minh_city_hours() -> None:
    # 17:30 UTC on Monday 30 November 2026 is 00:30 on Tuesday 1 December in the city.
    start = hour_start(datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    assert start == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert hour_of_week(start) == str(1 * 24 + 0)
    assert hour_of_week(start - timedelta(hours=1)) == str(0 * 24 + 23)


def test_below_the_minimum_count_nothing_is_raised() -> None:
    assert judge(HourStats(19, 19), Expectation(0.0, 0.0, "none"), RULE) == []


def test_volume_spike_against_the_expected_volume() -> None:
    usual = Expectation(10.0, 0.2, "seasonal")
    assert judge(HourStats(30, 3), usual, RULE) == [VOLUME_SPIKE]
    assert judge(HourStats(29, 3), usual, RULE) == []
    # Without history an expectation under 1 counts as 1: the minimum count decides.
    assert judge(HourStats(20, 2), Expectation(0.0, 0.0, "none"), RULE) == [VOLUME_SPIKE]


def test_negative_shift_needs_a_high_share_well_above_the_usual_one() -> None:
    busy = Expectation(40.0, 0.3, "overall")
    assert judge(HourStats(40, 24), busy, RULE) == [NEGATIVE_SHIFT]
    assert judge(HourStats(40, 21), busy, RULE) == []  # 0.525: not 0.25 above 0.3
    gloomy = Expectation(40.0, 0.6, "overall")
    assert judge(HourStats(40, 32), gloomy, RULE) == []  # 0.8 is gloomy's usual plus 0.2
    assert judge(HourStats(120, 120), busy, RULE) == [VOLUME_SPIKE, NEGATIVE_SHIFT]


def test_baseline_is_seasonal_once_the_slot_has_enough_weeks() -> None:
    monday_nine = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 09:00 in the city
    baseline: dict = {}
    for week in range(SEASONAL_MIN_WEEKS):
        baseline = fold(baseline, monday_nine - timedelta(weeks=week), HourStats(40, 10))
        # Quiet nights in between keep the overall average low.
        for hour in range(1, 6):
            baseline = fold(baseline, monday_nine + timedelta(hours=hour), HourStats(0, 0))
        if week < SEASONAL_MIN_WEEKS - 1:
            assert expectation(baseline, monday_nine).basis == "overall"
    seasonal = expectation(baseline, monday_nine)
    assert seasonal.basis == "seasonal"
    assert seasonal.volume == 40.0
    assert seasonal.negative_share == 0.25
    # An hour of the week never seen: the overall EWMA answers for it.
    other = expectation(baseline, monday_nine + timedelta(hours=12))
    assert other.basis == "overall"
    assert other.volume < 40.0
    assert expectation(None, monday_nine) == Expectation(0.0, 0.0, "none")


def test_ewma_counts_empty_hours_as_volume_but_not_as_tone() -> None:
    start = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    baseline = fold({}, start, HourStats(10, 5))
    baseline = fold(baseline, start + timedelta(hours=1), HourStats(0, 0))
    overall = baseline["overall"]
    assert overall["volume"] == (1 - ALPHA) * 10
    assert overall["negative_share"] == 0.5
    assert overall["n"] == 2
