"""Time zone names resolve from every provider's spelling, and zones compare by their UTC offsets."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import combinations
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatops.timezones import (
    UnknownTimezone,
    ZoneDifference,
    describe_zone,
    iana_name,
    offsets_differ,
    resolve_zone,
    windows_zones,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


# --- the catalog -----------------------------------------------------------------------------------


def test_the_catalog_holds_every_cldr_windows_zone_and_the_retired_names() -> None:
    zones = windows_zones()

    assert len(zones) == 139 + 5
    assert zones["Pacific Standard Time"] == "America/Los_Angeles"
    assert zones["W. Europe Standard Time"] == "Europe/Berlin"
    assert zones["GMT Standard Time"] == "Europe/London"
    assert zones["India Standard Time"] == "Asia/Kolkata"
    assert zones["Tokyo Standard Time"] == "Asia/Tokyo"
    assert zones["AUS Eastern Standard Time"] == "Australia/Sydney"
    assert zones["UTC"] == "Etc/UTC"
    assert zones["Mexico Standard Time"] == "America/Mexico_City"  # retired, still reported


def test_every_catalog_zone_is_a_real_iana_zone_and_no_name_repeats() -> None:
    zones = windows_zones()

    assert all(ZoneInfo(zone) for zone in zones.values())
    assert len({name.casefold() for name in zones}) == len(zones)


# --- resolve_zone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Pacific Standard Time", "America/Los_Angeles"),  # Graph mailboxSettings
        ("pacific standard time", "America/Los_Angeles"),
        ("  W. Europe Standard Time ", "Europe/Berlin"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("UTC-11", "Etc/GMT+11"),
        ("America/Los_Angeles", "America/Los_Angeles"),  # Salesforce TimeZoneSidKey, Google
        ("america/new_york", "America/New_York"),
        ("US/Eastern", "US/Eastern"),  # a legacy link keeps its name; its rules are New York's
        ("Asia/Calcutta", "Asia/Calcutta"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("GMT", "GMT"),
        ("Etc/UTC", "Etc/UTC"),
        ("Etc/GMT+5", "Etc/GMT+5"),
        ("tzone://Microsoft/Utc", "UTC"),  # Graph event originalStartTimeZone
        ("Z", "UTC"),
        ("UTC+2", "Etc/GMT-2"),
        ("GMT-08:00", "Etc/GMT+8"),
        ("UTC+0", "UTC"),
    ],
)
def test_known_names_resolve_to_their_zone(name: str, key: str) -> None:
    assert resolve_zone(name) == ZoneInfo(key)
    assert iana_name(name) == key


@pytest.mark.parametrize(
    ("name", "message", "suggestion"),
    [
        (
            "Pacifc Standard Time",
            'Unknown time zone "Pacifc Standard Time". Did you mean "Pacific Standard Time"?',
            "Pacific Standard Time",
        ),
        (
            "America/New_Yrok",
            'Unknown time zone "America/New_Yrok". Did you mean "America/New_York"?',
            "America/New_York",
        ),
        ("Mars/Olympus_Mons", 'Unknown time zone "Mars/Olympus_Mons".', None),
        ("", "The time zone name is empty.", None),
        ("   ", "The time zone name is empty.", None),
        (
            "Customized Time Zone",
            '"Customized Time Zone" is a custom Outlook time zone with no name; '
            "pick a named zone in Outlook.",
            None,
        ),
        (
            "UTC+05:30",
            '"UTC+05:30" is a fixed offset with no IANA zone; use a zone name such as "Asia/Kolkata".',
            None,
        ),
        (
            "UTC+15",
            '"UTC+15" is a fixed offset with no IANA zone; use a zone name such as "Asia/Kolkata".',
            None,
        ),
    ],
)
def test_unknown_names_say_why_and_suggest_the_closest(
    name: str, message: str, suggestion: str | None
) -> None:
    with pytest.raises(UnknownTimezone) as caught:
        resolve_zone(name)

    assert str(caught.value) == message
    assert caught.value.suggestion == suggestion
    assert caught.value.name == name
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules"])
def test_zoneinfo_placeholders_are_not_time_zones(name: str) -> None:
    # "localtime" would silently mean this server's zone.
    with pytest.raises(UnknownTimezone):
        resolve_zone(name)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("Pacific Standard Time", "Pacific Standard Time (America/Los_Angeles)"),
        ("india standard time", "India Standard Time (Asia/Kolkata)"),
        ("UTC-11", "UTC-11 (Etc/GMT+11)"),
        ("America/Los_Angeles", "America/Los_Angeles"),
        ("UTC", "UTC"),
        ("Etc/GMT+5", "Etc/GMT+5 (UTC-05:00)"),
        ("UTC+2", "Etc/GMT-2 (UTC+02:00)"),
    ],
)
def test_describe_zone_shows_both_names_and_unflips_etc_signs(name: str, text: str) -> None:
    assert describe_zone(name) == text


# --- offsets_differ: equivalent zones --------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("US/Eastern", "America/New_York"),
        ("Eastern Standard Time", "America/New_York"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("GMT Standard Time", "Europe/London"),
        ("India Standard Time", "Asia/Calcutta"),
        ("AUS Eastern Standard Time", "Australia/Melbourne"),
        ("Romance Standard Time", "Europe/Brussels"),  # different cities, same rules
        ("UTC", "Etc/GMT"),
        ("Tokyo Standard Time", "Tokyo Standard Time"),
    ],
)
def test_zones_with_the_same_offsets_all_year_are_equivalent(a: str, b: str) -> None:
    assert offsets_differ(a, b, START) is None


# --- offsets_differ: differences -------------------------------------------------------------------


def test_new_york_and_los_angeles_are_three_hours_apart_all_year() -> None:
    difference = offsets_differ("America/New_York", "America/Los_Angeles", START)

    assert difference == ZoneDifference(
        zone_a="America/New_York",
        zone_b="America/Los_Angeles",
        max_shift=timedelta(hours=3),  # not 4: the hours between the two 2:00 clock changes don't count
        differing_days=365,
        first_differing=START,
        dst_only=False,
        example="A 10:00 meeting in America/New_York shows at 07:00 in America/Los_Angeles.",
    )


def test_a_windows_name_against_iana_reads_in_the_names_given() -> None:
    difference = offsets_differ("Pacific Standard Time", "America/New_York", START)

    assert difference is not None
    assert (
        difference.example == "A 10:00 meeting in Pacific Standard Time shows at 13:00 in America/New_York."
    )
    assert difference.max_shift == timedelta(hours=3)


def test_the_weeks_between_us_and_eu_clock_changes_show_their_own_shift() -> None:
    # The US moves its clocks on 8 March 2026, the EU on 29 March: for three weeks New York is 4 h behind
    # London, then 5 h again.
    difference = offsets_differ(
        "America/New_York", "Europe/London", datetime(2026, 3, 9, tzinfo=UTC), days=30
    )

    assert difference is not None
    assert difference.example == "A 10:00 meeting in America/New_York shows at 14:00 in Europe/London."
    assert difference.max_shift == timedelta(hours=5)
    assert difference.differing_days == 30
    assert difference.dst_only is False


def test_a_two_hour_difference_on_the_night_of_a_clock_change_is_found_to_the_second() -> None:
    # Havana and New York share offsets and DST dates, but Havana changes at midnight and New York at
    # 2:00: they differ for two hours in March and one in November. Daily sampling would miss both.
    difference = offsets_differ("America/New_York", "America/Havana", START)

    assert difference is not None
    assert difference.first_differing == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert difference.differing_days == 2
    assert difference.max_shift == timedelta(hours=1)
    assert difference.dst_only is True
    assert difference.example == "A 10:00 meeting in America/New_York shows at 11:00 in America/Havana."


def test_the_november_change_is_found_from_a_summer_start() -> None:
    difference = offsets_differ("America/New_York", "America/Havana", datetime(2026, 6, 1, tzinfo=UTC))

    assert difference is not None
    assert difference.first_differing == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
    assert difference.example == "A 10:00 meeting in America/New_York shows at 09:00 in America/Havana."


@pytest.mark.parametrize(
    ("a", "b", "dst_only"),
    [
        ("America/Phoenix", "America/Denver", True),  # same standard offset, Phoenix has no DST
        ("Europe/London", "Africa/Casablanca", True),  # same clock in summer, an hour apart in winter
        ("Australia/Brisbane", "Australia/Sydney", True),
        ("Europe/Dublin", "Atlantic/Reykjavik", True),  # Ireland's "negative DST" in tzdata
        ("America/New_York", "America/Los_Angeles", False),
        ("Europe/Berlin", "Europe/London", False),
    ],
)
def test_dst_only_tells_daylight_saving_differences_from_different_zones(
    a: str, b: str, dst_only: bool
) -> None:
    difference = offsets_differ(a, b, START)

    assert difference is not None
    assert difference.dst_only is dst_only


def test_phoenix_and_denver_differ_only_in_summer() -> None:
    difference = offsets_differ("US Mountain Standard Time", "Mountain Standard Time", START)

    assert difference is not None
    assert difference.first_differing == datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
    assert difference.max_shift == timedelta(hours=1)
    assert 230 < difference.differing_days < 240
    assert difference.example == (
        "A 10:00 meeting in US Mountain Standard Time shows at 11:00 in Mountain Standard Time."
    )


@pytest.mark.parametrize(
    ("a", "b", "example"),
    [
        (
            "America/New_York",
            "Asia/Tokyo",
            "A 10:00 meeting in America/New_York shows at 00:00 the next day in Asia/Tokyo.",
        ),
        (
            "Asia/Kolkata",
            "America/New_York",
            "A 10:00 meeting in Asia/Kolkata shows at 23:30 the day before in America/New_York.",
        ),
        ("Asia/Kathmandu", "UTC", "A 10:00 meeting in Asia/Kathmandu shows at 04:15 in UTC."),
    ],
)
def test_examples_cross_midnight_and_keep_odd_minutes(a: str, b: str, example: str) -> None:
    difference = offsets_differ(a, b, START)

    assert difference is not None
    assert difference.example == example


def test_a_naive_start_is_utc() -> None:
    naive = offsets_differ("America/Phoenix", "America/Denver", datetime(2026, 1, 1))

    assert naive == offsets_differ("America/Phoenix", "America/Denver", START)


def test_a_start_in_another_zone_is_the_same_moment() -> None:
    berlin_start = START.astimezone(ZoneInfo("Europe/Berlin"))

    assert offsets_differ("America/Phoenix", "America/Denver", berlin_start) == offsets_differ(
        "America/Phoenix", "America/Denver", START
    )


def test_a_window_of_no_days_is_refused() -> None:
    with pytest.raises(ValueError, match="days must be at least 1"):
        offsets_differ("UTC", "GMT", START, days=0)


def test_an_unknown_name_in_a_comparison_raises_unknown_timezone() -> None:
    with pytest.raises(UnknownTimezone, match='Did you mean "Eastern Standard Time"'):
        offsets_differ("Eastern Standrd Time", "America/New_York", START)


def test_ten_thousand_comparisons_take_seconds_not_minutes() -> None:
    names = sorted(windows_zones())
    pairs = list(combinations(names, 2))[:10_000]
    start = datetime(2027, 2, 3, 4, 5, tzinfo=UTC)  # a day no other test uses, so nothing is cached

    began = time.perf_counter()
    differing = sum(offsets_differ(a, b, start) is not None for a, b in pairs)
    elapsed = time.perf_counter() - began

    assert differing > 9_000
    assert elapsed < 10, f"{elapsed:.1f} s"


# --- properties ------------------------------------------------------------------------------------

ZONE_NAMES = sorted({*windows_zones(), *windows_zones().values(), "US/Eastern", "Europe/Dublin", "UTC"})
zone_names = st.sampled_from(ZONE_NAMES)
starts = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
windows = st.integers(min_value=1, max_value=400)


@settings(max_examples=60, deadline=None, database=None)
@given(zone=zone_names, start=starts, days=windows)
def test_a_zone_never_differs_from_itself(zone: str, start: datetime, days: int) -> None:
    assert offsets_differ(zone, zone, start, days) is None
    assert offsets_differ(zone, iana_name(zone), start, days) is None


@settings(max_examples=60, deadline=None, database=None)
@given(a=zone_names, b=zone_names, start=starts, days=windows)
def test_comparison_is_symmetric_and_stays_inside_the_window(
    a: str, b: str, start: datetime, days: int
) -> None:
    forward = offsets_differ(a, b, start, days)
    backward = offsets_differ(b, a, start, days)

    assert (forward is None) == (backward is None)
    if forward is not None and backward is not None:
        assert forward.max_shift == backward.max_shift > timedelta(0)
        assert forward.differing_days == backward.differing_days
        assert forward.first_differing == backward.first_differing
        assert forward.dst_only == backward.dst_only
        assert 1 <= forward.differing_days <= days
        start_second = start.replace(microsecond=0)
        assert start_second <= forward.first_differing < start_second + timedelta(days=days)
