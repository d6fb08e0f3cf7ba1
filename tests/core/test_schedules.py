"""Sync schedules: cron parsing, fire times, overlaps, piled-up runs, quota-friendly intervals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatops.schedules import (
    InvalidSchedule,
    Overlap,
    SyncJob,
    concurrent_runs,
    fire_times,
    overlaps,
    parse_cron,
    parse_job,
    shortest_gap_minutes,
    suggest_interval,
    syncs_per_day,
    too_long,
)

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


# --- parse_cron ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "minutes", "hours", "weekdays"),
    [
        ("*/15 9-17 * * mon-fri", (0, 15, 30, 45), tuple(range(9, 18)), {1, 2, 3, 4, 5}),
        ("0,30 * * * *", (0, 30), tuple(range(24)), set(range(7))),
        ("5/20 0 * * *", (5, 25, 45), (0,), set(range(7))),
        ("10-40/10 6,18 * * SAT,sun", (10, 20, 30, 40), (6, 18), {6, 0}),
        ("0 0 * * 7", (0,), (0,), {0}),  # 7 is Sunday too
        ("0 0 * * 5-7", (0,), (0,), {5, 6, 0}),
        ("0 0 * * mon-sun", (0,), (0,), set(range(7))),
        ("  0   12  *  *  *  ", (0,), (12,), set(range(7))),
    ],
)
def test_cron_fields_parse(
    expression: str, minutes: tuple[int, ...], hours: tuple[int, ...], weekdays: set[int]
) -> None:
    cron = parse_cron(expression)

    assert (cron.minutes, cron.hours, set(cron.weekdays)) == (minutes, hours, weekdays)


def test_month_names_and_ranges_parse() -> None:
    assert parse_cron("0 0 1 jan-mar,JUL */2").months == frozenset({1, 2, 3, 7})
    assert parse_cron("0 0 1 */4 *").months == frozenset({1, 5, 9})


@pytest.mark.parametrize(
    ("macro", "same_as"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@ANNUALLY", "0 0 1 1 *"),
    ],
)
def test_macros_mean_their_cron(macro: str, same_as: str) -> None:
    cron, expected = parse_cron(macro), parse_cron(same_as)

    assert (cron.minutes, cron.hours, cron.days, cron.months, cron.weekdays) == (
        expected.minutes,
        expected.hours,
        expected.days,
        expected.months,
        expected.weekdays,
    )
    assert cron.expression == macro


@pytest.mark.parametrize(
    ("expression", "field", "message"),
    [
        ("60 * * * *", "minute", 'Cron "60 * * * *": minute "60": 60 is outside 0-59.'),
        ("* 24 * * *", "hour", 'Cron "* 24 * * *": hour "24": 24 is outside 0-23.'),
        ("* * 0 * *", "day-of-month", 'Cron "* * 0 * *": day-of-month "0": 0 is outside 1-31.'),
        ("* * 32 * *", "day-of-month", 'Cron "* * 32 * *": day-of-month "32": 32 is outside 1-31.'),
        ("* * * 13 *", "month", 'Cron "* * * 13 *": month "13": 13 is outside 1-12.'),
        ("* * * foo *", "month", 'Cron "* * * foo *": month "foo": "foo" is not a number or a month name.'),
        ("* * * * 8", "day-of-week", 'Cron "* * * * 8": day-of-week "8": 8 is outside 0-7.'),
        (
            "* * * * funday",
            "day-of-week",
            'Cron "* * * * funday": day-of-week "funday": "funday" is not a number or a weekday name.',
        ),
        ("*/0 * * * *", "minute", 'Cron "*/0 * * * *": minute "*/0": the step must be at least 1.'),
        ("*/x * * * *", "minute", 'Cron "*/x * * * *": minute "*/x": the step "x" is not a number.'),
        (
            "*/90 * * * *",
            "minute",
            'Cron "*/90 * * * *": minute "*/90": the step 90 is longer than the whole field (0-59).',
        ),
        ("5-1 * * * *", "minute", 'Cron "5-1 * * * *": minute "5-1": the range 5-1 runs backwards.'),
        ("* 1-2-3 * * *", "hour", 'Cron "* 1-2-3 * * *": hour "1-2-3": "2-3" is not a number.'),
        ("1,,2 * * * *", "minute", 'Cron "1,,2 * * * *": minute "1,,2": a list item is empty.'),
        ("-5 * * * *", "minute", 'Cron "-5 * * * *": minute "-5": "" is not a number.'),
        (
            "0 0 30 2 *",
            "day-of-month",
            'Cron "0 0 30 2 *": day-of-month "30": no month chosen has that day, so the job never runs.',
        ),
        (
            "* * *",
            "cron",
            'Cron "* * *": expected 5 fields (minute hour day-of-month month day-of-week), got 3.',
        ),
        (
            "0 0 * * * *",
            "cron",
            'Cron "0 0 * * * *": expected 5 fields (minute hour day-of-month month day-of-week), got 6.',
        ),
        ("", "cron", "cron: the expression is empty."),
        (
            "@reboot",
            "cron",
            'Cron "@reboot": "@reboot" is not one of @yearly, @annually, @monthly, @weekly, @daily, '
            "@midnight, @hourly.",
        ),
    ],
)
def test_invalid_cron_names_the_field_and_the_problem(expression: str, field: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_cron(expression)

    assert caught.value.field == field
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


# --- fire_times ------------------------------------------------------------------------------------


def test_interval_jobs_fire_on_whole_multiples_of_their_interval() -> None:
    job = SyncJob("eac", "Einstein Activity Capture", interval_minutes=15)

    assert list(fire_times(job, at(10, 7), at(11))) == [at(10, 15), at(10, 30), at(10, 45)]


def test_odd_intervals_are_aligned_to_the_epoch() -> None:
    job = SyncJob("odd", "tool", interval_minutes=7)

    times = list(fire_times(job, MONDAY, MONDAY + timedelta(hours=2)))

    assert all((moment - EPOCH) % timedelta(minutes=7) == timedelta(0) for moment in times)
    assert all(later - earlier == timedelta(minutes=7) for earlier, later in pairwise(times))
    assert times[0] - MONDAY < timedelta(minutes=7)


def test_the_window_includes_its_start_and_excludes_its_end() -> None:
    job = SyncJob("hourly", "tool", interval_minutes=60)

    assert list(fire_times(job, at(10), at(12))) == [at(10), at(11)]
    assert list(fire_times(job, at(12), at(10))) == []


def test_business_hours_cron_fires_on_weekdays_only() -> None:
    job = SyncJob("riva", "Riva", cron="*/15 9-17 * * mon-fri")

    times = list(fire_times(job, MONDAY, MONDAY + timedelta(days=7)))

    assert len(times) == 5 * 9 * 4
    assert times[0] == at(9)
    assert times[-1] == at(17, 45, day=9)
    assert {moment.weekday() for moment in times} == {0, 1, 2, 3, 4}


def test_both_day_fields_restricted_means_either_matches() -> None:
    # Vixie cron: the 13th of every month, and every Friday.
    job = SyncJob("odd", "tool", cron="0 12 13 * fri")

    times = list(fire_times(job, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)))

    assert len(times) == 12 + 52 - 3  # three Fridays in 2026 are the 13th


def test_a_day_field_starting_with_a_star_makes_both_day_fields_required() -> None:
    job = SyncJob("odd", "tool", cron="0 0 */2 * mon")  # odd-numbered days that are Mondays

    times = list(fire_times(job, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)))

    assert [moment.day for moment in times] == [5, 19, 9, 23]


def test_february_29_fires_in_leap_years_only() -> None:
    job = SyncJob("leap", "tool", cron="0 0 29 2 *")

    times = list(fire_times(job, datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)))

    assert times == [datetime(2028, 2, 29, tzinfo=UTC)]


def test_naive_datetimes_are_utc() -> None:
    job = SyncJob("hourly", "tool", interval_minutes=60)

    assert list(fire_times(job, datetime(2026, 1, 5, 10), datetime(2026, 1, 5, 12))) == [at(10), at(11)]


# --- jobs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"interval_minutes": 5, "cron": "* * * * *"},
            "schedule",
            'Sync job "eac": schedule: give either interval_minutes or cron, not both or neither.',
        ),
        (
            {},
            "schedule",
            'Sync job "eac": schedule: give either interval_minutes or cron, not both or neither.',
        ),
        (
            {"interval_minutes": 0},
            "interval_minutes",
            'Sync job "eac": interval_minutes: must be a whole number of minutes, at least 1.',
        ),
        (
            {"interval_minutes": True},
            "interval_minutes",
            'Sync job "eac": interval_minutes: must be a whole number of minutes, at least 1.',
        ),
        (
            {"interval_minutes": 2.5},
            "interval_minutes",
            'Sync job "eac": interval_minutes: must be a whole number of minutes, at least 1.',
        ),
        (
            {"interval_minutes": 5, "duration_minutes": -1},
            "duration_minutes",
            'Sync job "eac": duration_minutes: must be a number of minutes, 0 or more.',
        ),
        (
            {"interval_minutes": 5, "duration_minutes": float("nan")},
            "duration_minutes",
            'Sync job "eac": duration_minutes: must be a number of minutes, 0 or more.',
        ),
        ({"cron": "61 * * * *"}, "minute", 'Cron "61 * * * *": minute "61": 61 is outside 0-59.'),
    ],
)
def test_a_sync_job_checks_its_fields(fields: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        SyncJob("eac", "Einstein Activity Capture", **fields)  # type: ignore[arg-type]

    assert caught.value.field == field
    assert str(caught.value) == message


def test_a_sync_job_needs_a_name_and_a_tool() -> None:
    with pytest.raises(InvalidSchedule, match="^name: a sync job needs a name.$"):
        SyncJob(" ", "tool", interval_minutes=5)
    with pytest.raises(InvalidSchedule, match='^Sync job "eac": tool: say which tool runs the job.$'):
        SyncJob("eac", "", interval_minutes=5)


@pytest.mark.parametrize(
    ("schedule", "interval", "cron"),
    [
        ("every 5 min", 5, None),
        ("Every 5 minutes", 5, None),
        ("every 2 hours", 120, None),
        ("15m", 15, None),
        ("every minute", 1, None),
        ("every hour", 60, None),
        ("hourly", 60, None),
        ("*/5 * * * *", None, "*/5 * * * *"),
        ("@daily", None, "@daily"),
    ],
)
def test_parse_job_reads_intervals_and_cron_from_schedule_text(
    schedule: str, interval: int | None, cron: str | None
) -> None:
    job = parse_job({"name": "eac", "tool": "EAC", "schedule": schedule, "duration_minutes": 2})

    assert job == SyncJob("eac", "EAC", interval_minutes=interval, cron=cron, duration_minutes=2)


def test_parse_job_reads_explicit_keys() -> None:
    assert parse_job({"name": "a", "tool": "t", "interval_minutes": 10}) == SyncJob(
        "a", "t", interval_minutes=10
    )
    assert parse_job({"name": "a", "tool": "t", "cron": "0 * * * *", "duration_minutes": None}) == SyncJob(
        "a", "t", cron="0 * * * *"
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"name": "eac", "tool": "EAC"},
            "schedule",
            'Sync job "eac": schedule: give interval_minutes, cron or schedule.',
        ),
        (
            {"name": "eac", "tool": "EAC", "interval_minutes": 5, "cron": "* * * * *"},
            "schedule",
            'Sync job "eac": schedule: give only one of interval_minutes and cron.',
        ),
        (
            {"name": "eac", "tool": "EAC", "schedule": "every 1.5 hours"},
            "schedule",
            'Sync job "eac": schedule: "every 1.5 hours" is not "every N min" or "every N hours"; '
            "a cron expression works too.",
        ),
        (
            {"name": "eac", "tool": "EAC", "schedule": "every 0 min"},
            "schedule",
            'Sync job "eac": schedule: "every 0 min" is not at least one minute.',
        ),
        (
            {"name": "eac", "tool": "EAC", "schedule": 5},
            "schedule",
            'Sync job "eac": schedule: must be text such as "every 5 min" or a cron expression.',
        ),
        ({"name": "eac", "tool": "EAC", "cron": 5}, "cron", 'Sync job "eac": cron: must be text.'),
        ({"tool": "EAC", "interval_minutes": 5}, "name", "name: a sync job needs a name."),
        (
            {"name": "eac", "tool": "EAC", "schedule": "every day at 9"},
            "schedule",
            'Sync job "eac": schedule: "every day at 9" is not "every N min" or "every N hours"; '
            "a cron expression works too.",
        ),
        (
            {"name": "eac", "tool": "EAC", "schedule": "whenever"},
            "cron",
            'Cron "whenever": expected 5 fields (minute hour day-of-month month day-of-week), got 1.',
        ),
    ],
)
def test_parse_job_refuses_bad_data(data: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        parse_job(data)

    assert caught.value.field == field
    assert str(caught.value) == message


@dataclass(frozen=True)
class LooseJob:
    """Another module's job type with the same fields and no checks of its own."""

    name: str
    tool: str
    interval_minutes: int | None = None
    cron: str | None = None
    duration_minutes: float = 0.0


def test_any_job_shaped_object_works_and_is_checked() -> None:
    assert syncs_per_day(LooseJob("a", "t", interval_minutes=30)) == 48
    with pytest.raises(InvalidSchedule, match="give either interval_minutes or cron"):
        too_long(LooseJob("a", "t"))


# --- how often, how long ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "per_day"),
    [
        (SyncJob("a", "t", interval_minutes=5), 288),
        (SyncJob("a", "t", interval_minutes=90), 16),
        (SyncJob("a", "t", cron="*/10 * * * *"), 144),
        (SyncJob("a", "t", cron="@daily"), 1),
        (SyncJob("a", "t", cron="0 9-17 * * 1-5"), 9 * 5 / 7),
        (SyncJob("a", "t", cron="0 0 1 * *"), 12 / 365.2425),
    ],
)
def test_syncs_per_day_is_the_long_run_average(job: SyncJob, per_day: float) -> None:
    assert syncs_per_day(job) == pytest.approx(per_day, rel=1e-3)


@pytest.mark.parametrize(
    ("job", "gap"),
    [
        (SyncJob("a", "t", interval_minutes=5), 5),
        (SyncJob("a", "t", cron="*/15 9-17 * * *"), 15),
        (SyncJob("a", "t", cron="0 9,17 * * *"), 8 * 60),
        (SyncJob("a", "t", cron="0 6,23 * * *"), 7 * 60),  # 23:00 to 06:00 is the short one
        (SyncJob("a", "t", cron="0 9 * * mon-fri"), 24 * 60),
        (SyncJob("a", "t", cron="0 0 1 * *"), 28 * 24 * 60),
    ],
)
def test_shortest_gap_between_runs(job: SyncJob, gap: int) -> None:
    assert shortest_gap_minutes(job) == gap


@pytest.mark.parametrize(
    ("job", "piles_up"),
    [
        (SyncJob("a", "t", interval_minutes=5, duration_minutes=6), True),
        (SyncJob("a", "t", interval_minutes=5, duration_minutes=5), False),  # ends as the next starts
        (SyncJob("a", "t", interval_minutes=5), False),
        (SyncJob("a", "t", cron="0 9,17 * * *", duration_minutes=500), True),
        (SyncJob("a", "t", cron="0 9,17 * * *", duration_minutes=400), False),
    ],
)
def test_too_long_when_a_run_outlasts_the_gap_to_the_next(job: SyncJob, piles_up: bool) -> None:
    assert too_long(job) is piles_up


@pytest.mark.parametrize(
    ("calls", "limit", "others", "interval"),
    [
        (10, 15_000, 0, 1),  # 1,440 syncs x 10 = 14,400
        (10, 10_000, 0, 2),
        (100, 15_000, 5_000, 15),  # 10,000 left: 96 syncs x 100 = 9,600
        (1_000, 100_000, 99_000, 1440),
        (10, 5, 0, None),  # not even one sync a day
        (10, 100, 95, None),
        (0, 100, 200, None),  # others already ran the quota out
        (0, 100, 0, 1),
    ],
)
def test_suggest_interval_picks_the_shortest_that_fits(
    calls: int, limit: int, others: int, interval: int | None
) -> None:
    assert suggest_interval(calls, limit, others) == interval


def test_suggest_interval_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError, match="calls_per_sync can't be negative"):
        suggest_interval(-1, 100)
    with pytest.raises(ValueError, match="can't be negative"):
        suggest_interval(1, 100, -5)


# --- overlaps --------------------------------------------------------------------------------------


def test_a_five_and_a_ten_minute_job_overlap_on_every_other_run() -> None:
    eac = SyncJob("eac", "Einstein Activity Capture", interval_minutes=5, duration_minutes=2)
    riva = SyncJob("riva", "Riva", cron="*/10 * * * *", duration_minutes=3)

    assert overlaps([eac, riva], MONDAY) == [
        Overlap(
            job_a=eac, job_b=riva, overlap_fraction=0.5, overlapping_runs=144, example_at=MONDAY, runs_a=288
        )
    ]
    assert overlaps([riva, eac], MONDAY)[0].overlap_fraction == 1.0


def test_staggered_jobs_do_not_overlap() -> None:
    top = SyncJob("top", "t", cron="0 * * * *", duration_minutes=10)
    bottom = SyncJob("bottom", "t", cron="30 * * * *", duration_minutes=10)

    assert overlaps([top, bottom], MONDAY) == []


def test_a_run_that_ends_as_the_other_starts_does_not_overlap() -> None:
    first = SyncJob("first", "t", interval_minutes=10, duration_minutes=5)
    second = SyncJob("second", "t", cron="5-59/10 * * * *", duration_minutes=5)

    assert overlaps([first, second], MONDAY) == []


def test_runs_of_unknown_length_overlap_only_when_they_start_together() -> None:
    together = overlaps(
        [SyncJob("a", "t", interval_minutes=15), SyncJob("b", "t", cron="*/15 * * * *")], MONDAY
    )
    apart = overlaps([SyncJob("a", "t", cron="0 * * * *"), SyncJob("b", "t", cron="1 * * * *")], MONDAY)

    assert [(o.overlap_fraction, o.overlapping_runs) for o in together] == [(1.0, 96)]
    assert apart == []


def test_a_run_started_before_the_window_still_counts() -> None:
    nightly = SyncJob("nightly", "t", cron="50 23 * * *", duration_minutes=30)  # 23:50 to 00:20
    early = SyncJob("early", "t", cron="5 0 * * *", duration_minutes=1)

    [overlap] = overlaps([early, nightly], MONDAY)

    assert (overlap.job_a, overlap.overlap_fraction, overlap.example_at) == (early, 1.0, at(0, 5))


def test_overlaps_come_most_overlapping_first_and_cover_every_pair() -> None:
    a = SyncJob("a", "t", interval_minutes=60, duration_minutes=1)
    b = SyncJob("b", "t", interval_minutes=30, duration_minutes=1)
    c = SyncJob("c", "t", interval_minutes=60, duration_minutes=1)

    found = overlaps([b, a, c], MONDAY, hours=6)

    assert [(o.job_a.name, o.job_b.name, o.overlap_fraction) for o in found] == [
        ("a", "c", 1.0),
        ("b", "a", 0.5),
        ("b", "c", 0.5),
    ]


def test_overlaps_need_an_hour_at_least() -> None:
    with pytest.raises(ValueError, match="hours must be at least 1"):
        overlaps([], MONDAY, hours=0)


# --- concurrent_runs -------------------------------------------------------------------------------


def test_concurrent_runs_pairs_distinct_jobs_running_at_once() -> None:
    runs = [
        ("salesforce", at(10), at(10, 30)),
        ("hubspot", at(10, 15), at(10, 20)),
        ("salesforce", at(11), at(11, 5)),
        ("outlook", at(11, 5), at(11, 6)),  # starts as salesforce ends: not together
        ("hubspot", at(10, 25), at(10, 25)),  # no end logged: the moment it started
        ("salesforce", at(10, 10), at(10, 12)),  # the same job twice is not a pair
    ]

    assert concurrent_runs(runs) == [
        ("hubspot", "salesforce", at(10, 15)),
        ("hubspot", "salesforce", at(10, 25)),
    ]


def test_concurrent_runs_reads_naive_times_as_utc_and_handles_no_runs() -> None:
    naive = [("a", datetime(2026, 1, 5, 10), datetime(2026, 1, 5, 11)), ("b", at(10, 30), at(10, 40))]

    assert concurrent_runs(naive) == [("a", "b", at(10, 30))]
    assert concurrent_runs([]) == []


# --- properties ------------------------------------------------------------------------------------

crons = st.builds(
    lambda *fields: " ".join(fields),
    st.sampled_from(["*", "*/5", "0", "0,30", "15-45/15", "7", "*/20"]),
    st.sampled_from(["*", "9-17", "0", "*/6", "23"]),
    st.sampled_from(["*", "1", "15", "1-7", "*/3"]),
    st.sampled_from(["*", "1-6", "jan,jul", "*/2"]),
    st.sampled_from(["*", "mon-fri", "0", "sat,sun"]),
)
jobs = st.one_of(
    st.builds(
        lambda name, interval, duration: SyncJob(
            name, "t", interval_minutes=interval, duration_minutes=duration
        ),
        st.sampled_from(["a", "b", "c"]),
        st.integers(min_value=1, max_value=1440),
        st.floats(min_value=0, max_value=3000),
    ),
    st.builds(
        lambda name, cron, duration: SyncJob(name, "t", cron=cron, duration_minutes=duration),
        st.sampled_from(["a", "b", "c"]),
        crons,
        st.floats(min_value=0, max_value=3000),
    ),
)
starts = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None, database=None)
@given(
    job_list=st.lists(jobs, min_size=2, max_size=3),
    start=starts,
    hours=st.integers(min_value=1, max_value=48),
)
def test_overlap_fractions_stay_between_zero_and_one(
    job_list: list[SyncJob], start: datetime, hours: int
) -> None:
    for overlap in overlaps(job_list, start, hours):
        assert 0 < overlap.overlap_fraction <= 1
        assert 1 <= overlap.overlapping_runs <= overlap.runs_a
        assert overlap.overlap_fraction == overlap.overlapping_runs / overlap.runs_a
        assert start <= overlap.example_at < start + timedelta(hours=hours)


@settings(max_examples=150, deadline=None, database=None)
@given(job=jobs, start=starts, hours=st.integers(min_value=1, max_value=72))
def test_fire_times_rise_and_stay_in_the_window(job: SyncJob, start: datetime, hours: int) -> None:
    end = start + timedelta(hours=hours)
    times = list(fire_times(job, start, end))

    assert all(start <= moment < end for moment in times)
    assert all(earlier < later for earlier, later in pairwise(times))
    assert all(
        later - earlier >= timedelta(minutes=shortest_gap_minutes(job)) for earlier, later in pairwise(times)
    )
    if job.interval_minutes is not None:
        assert abs(len(times) - hours * 60 / job.interval_minutes) <= 1


@settings(max_examples=100, deadline=None, database=None)
@given(job=jobs)
def test_a_job_piles_up_exactly_when_a_run_outlasts_the_shortest_gap(job: SyncJob) -> None:
    assert too_long(job) is (job.duration_minutes > shortest_gap_minutes(job))
    if job.interval_minutes is not None:
        assert too_long(job) is (job.duration_minutes > job.interval_minutes)


@settings(max_examples=500, deadline=None, database=None)
@given(text=st.text(alphabet="0123456789*/,-@ abcdefghijklmnopqrstuvwxyzJAN", max_size=30))
def test_any_cron_text_parses_or_raises_invalid_schedule(text: str) -> None:
    try:
        cron = parse_cron(text)
    except InvalidSchedule:
        return
    assert cron.minutes and cron.hours and cron.days and cron.months and cron.weekdays


@settings(max_examples=150, deadline=None, database=None)
@given(
    runs=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(min_value=0, max_value=600),
            st.integers(min_value=0, max_value=120),
        ),
        max_size=12,
    )
)
def test_concurrent_pairs_name_two_different_jobs_in_order(runs: list[tuple[str, int, int]]) -> None:
    observed = [
        (name, MONDAY + timedelta(minutes=s), MONDAY + timedelta(minutes=s + d)) for name, s, d in runs
    ]

    found = concurrent_runs(observed)

    assert all(first < second for first, second, _ in found)
    assert [moment for _, _, moment in found] == sorted(moment for _, _, moment in found)
