"""Time zone names from every provider resolved to IANA zones, and compared by their UTC offsets."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from itertools import pairwise
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, available_timezones

import yaml

__all__ = [
    "UnknownTimezone",
    "ZoneDifference",
    "describe_zone",
    "iana_name",
    "offsets_differ",
    "resolve_zone",
    "windows_zones",
]

_DAY: Final = 86_400
# Offsets are sampled every 6 hours and every change is then pinned to the second by bisection.
# This misses only a zone that changes its offset and changes it back within 6 hours, which no
# zone does; sampling every hour would cost six times as much for nothing.
_STEP: Final = 6 * 3_600

# In zoneinfo's list but not zones a provider would mean: "localtime" is whatever this machine is set
# to, "Factory" is tzdata's placeholder with the abbreviation "-00".
_NOT_ZONES: Final = frozenset({"localtime", "Factory", "posixrules"})

# Names that mean UTC without being an IANA or Windows name. Graph writes "tzone://Microsoft/Utc" in
# event fields such as originalStartTimeZone.
_UTC_ALIASES: Final = frozenset({"z", "tzone://microsoft/utc", "coordinated universal time"})

# Outlook's stand-ins for a zone that has no name: the offsets live elsewhere in the payload.
_CUSTOM_ZONES: Final = frozenset({"customized time zone", "tzone://microsoft/custom"})

_FIXED_OFFSET: Final = re.compile(r"(?:UTC|GMT)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)


class UnknownTimezone(ValueError):
    """A time zone name that is neither an IANA nor a Windows name.

    Args:
        name: the name as it was given.
        suggestion: the closest known name, for a "did you mean" line, or None.
    """

    def __init__(self, name: str, suggestion: str | None = None, *, reason: str | None = None) -> None:
        message = reason or f'Unknown time zone "{name}".'
        if suggestion:
            message = f'{message} Did you mean "{suggestion}"?'
        super().__init__(message)
        self.name = name
        self.suggestion = suggestion


@dataclass(frozen=True, slots=True)
class ZoneDifference:
    """How two zones disagree over a window: what a calendar check reports.

    Args:
        zone_a: the first name, as given.
        zone_b: the second name, as given.
        max_shift: the largest gap between the two clocks that holds for a day or more in all; the
            hours in which the two zones change their clocks at different moments count only when
            nothing else differs.
        differing_days: days of the window (counted from its start) with any moment that differs.
        first_differing: the first moment (UTC) at which the clocks disagree.
        dst_only: the zones keep the same clock part of the time, or share a standard offset, so only
            daylight saving time (whether and when it applies) sets them apart.
        example: one plain sentence showing the first lasting shift ("A 10:00 meeting in ... shows at
            07:00 in ...").
    """

    zone_a: str
    zone_b: str
    max_shift: timedelta
    differing_days: int
    first_differing: datetime
    dst_only: bool
    example: str


@dataclass(frozen=True, slots=True)
class _Resolved:
    iana: str
    windows: str | None  # the Windows name in its catalog spelling, when the input was one


def windows_zones() -> Mapping[str, str]:
    """The catalog: Windows zone name (catalog spelling) -> IANA zone, retired names included."""
    return _catalog()


@lru_cache(maxsize=1)
def _catalog() -> Mapping[str, str]:
    text = files("chatops").joinpath("catalog", "windows_zones.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    merged: dict[str, str] = {}
    for section in ("windows", "legacy"):
        merged.update({str(name): str(zone) for name, zone in data[section].items()})
    return MappingProxyType(merged)


@lru_cache(maxsize=1)
def _windows_by_folded_name() -> Mapping[str, tuple[str, str]]:
    return MappingProxyType({name.casefold(): (name, zone) for name, zone in _catalog().items()})


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones() - _NOT_ZONES)


@lru_cache(maxsize=1)
def _iana_by_folded_name() -> Mapping[str, str]:
    return MappingProxyType({name.casefold(): name for name in _iana_names()})


@lru_cache(maxsize=4096)
def _resolve(name: str) -> _Resolved:
    text = name.strip()
    if not text:
        raise UnknownTimezone(name, reason="The time zone name is empty.")
    folded = text.casefold()
    if text in _iana_names():
        return _Resolved(text, None)
    # IANA before Windows: the only name both use is "UTC", which should stay "UTC", not "Etc/UTC".
    if folded in _iana_by_folded_name():
        return _Resolved(_iana_by_folded_name()[folded], None)
    if folded in _windows_by_folded_name():
        windows, zone = _windows_by_folded_name()[folded]
        return _Resolved(zone, windows)
    if folded in _UTC_ALIASES:
        return _Resolved("UTC", None)
    if folded in _CUSTOM_ZONES:
        raise UnknownTimezone(
            name, reason=f'"{text}" is a custom Outlook time zone with no name; pick a named zone in Outlook.'
        )
    fixed = _FIXED_OFFSET.fullmatch(text)
    if fixed:
        return _Resolved(_fixed_offset_zone(text, fixed), None)
    raise UnknownTimezone(name, _suggest(folded))


def _fixed_offset_zone(text: str, match: re.Match[str]) -> str:
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if minutes == 0 and hours == 0:
        return "UTC"
    # IANA's Etc zones flip the sign (POSIX style): Etc/GMT-5 is five hours *ahead* of UTC.
    zone = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    if minutes or zone not in _iana_names():
        raise UnknownTimezone(
            text,
            reason=f'"{text}" is a fixed offset with no IANA zone; use a zone name such as "Asia/Kolkata".',
        )
    return zone


def _suggest(folded: str) -> str | None:
    spellings = {**_iana_by_folded_name(), **{k: v[0] for k, v in _windows_by_folded_name().items()}}
    close = difflib.get_close_matches(folded, list(spellings), n=1, cutoff=0.6)
    return spellings[close[0]] if close else None


def resolve_zone(name: str) -> ZoneInfo:
    """The zone for an IANA name (legacy links such as US/Eastern too), a Windows name or a UTC spelling.

    Windows and IANA names match case-insensitively. Raises UnknownTimezone, with a suggestion where one
    is close, for anything else.
    """
    return ZoneInfo(_resolve(name).iana)


def iana_name(name: str) -> str:
    """The IANA key `name` resolves to ("Pacific Standard Time" -> "America/Los_Angeles")."""
    return _resolve(name).iana


def describe_zone(name: str) -> str:
    """How to show a zone to a person: "Pacific Standard Time (America/Los_Angeles)"."""
    resolved = _resolve(name)
    if resolved.windows is not None and resolved.windows != resolved.iana:
        return f"{resolved.windows} ({resolved.iana})"
    etc = re.fullmatch(r"Etc/GMT([+-])(\d+)", resolved.iana)
    if etc:  # spell out the flipped sign, which misleads everyone
        return f"{resolved.iana} (UTC{'-' if etc.group(1) == '+' else '+'}{int(etc.group(2)):02d}:00)"
    return resolved.iana


def offsets_differ(a: str, b: str, start: datetime, days: int = 365) -> ZoneDifference | None:
    """Compare two zones by their UTC offsets from `start` over the next `days` days.

    Returns None when the two zones keep the same clock at every moment of the window, whatever their
    names ("US/Eastern", "Eastern Standard Time" and "America/New_York" are one zone). Every offset
    change of either zone is found to the second, so a difference of a few hours a year counts.
    A naive `start` is taken as UTC. Raises UnknownTimezone for a name that can't be resolved.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    zone_a, zone_b = _resolve(a).iana, _resolve(b).iana
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return _compare(a.strip(), b.strip(), zone_a, zone_b, int(start.timestamp()), days)


# A profile is the zone's offsets over a window: (from epoch second, UTC offset, standard offset) rows,
# each in force until the next. Profiles are cached per zone and UTC start date, so comparing many pairs
# costs one profile per zone, not one per pair.
_Profile = tuple[tuple[int, int, int], ...]


@lru_cache(maxsize=65_536)
def _compare(
    name_a: str, name_b: str, zone_a: str, zone_b: str, start: int, days: int
) -> ZoneDifference | None:
    if zone_a == zone_b:
        return None
    first_day = start // _DAY
    end = start + days * _DAY
    rows_a = _profile(zone_a, first_day, days)
    rows_b = _profile(zone_b, first_day, days)

    first_moment: int | None = None
    differing: list[tuple[int, int]] = []  # (seconds in force, shift from a to b) per piece, in order
    differing_days = 0
    last_counted_day = -1
    shares_a_clock = False
    same_standard = True
    for since, until, (off_a, std_a), (off_b, std_b) in _merge(rows_a, rows_b, start, end):
        same_standard = same_standard and std_a == std_b
        shift = off_b - off_a
        if shift == 0:
            shares_a_clock = True
            continue
        if first_moment is None:
            first_moment = since
        differing.append((until - since, shift))
        first_day_index = max((since - start) // _DAY, last_counted_day + 1)
        last_day_index = (until - 1 - start) // _DAY
        if last_day_index >= first_day_index:
            differing_days += last_day_index - first_day_index + 1
            last_counted_day = last_day_index
    if first_moment is None:
        return None
    # Two zones that change their clocks at the same local hour (2:00 in both New York and Los
    # Angeles) are out of step by an extra hour for a few hours. That gap is real but no meeting
    # lives in it, so it is reported only when nothing lasting differs.
    time_in_force: dict[int, int] = {}
    for seconds, shift in differing:
        time_in_force[abs(shift)] = time_in_force.get(abs(shift), 0) + seconds
    lasting = [gap for gap, seconds in time_in_force.items() if seconds >= _DAY] or list(time_in_force)
    example_shift = next(shift for _, shift in differing if abs(shift) in lasting)
    return ZoneDifference(
        zone_a=name_a,
        zone_b=name_b,
        max_shift=timedelta(seconds=max(lasting)),
        differing_days=differing_days,
        first_differing=datetime.fromtimestamp(first_moment, UTC),
        dst_only=shares_a_clock or same_standard,
        example=_example(name_a, name_b, example_shift),
    )


def _merge(
    rows_a: _Profile, rows_b: _Profile, start: int, end: int
) -> list[tuple[int, int, tuple[int, int], tuple[int, int]]]:
    """Cut [start, end) where either zone changes: (since, until, state in a, state in b) per piece."""
    cuts = sorted({start, end} | {row[0] for row in (*rows_a, *rows_b) if start < row[0] < end})
    pieces = []
    i = j = 0
    for since, until in pairwise(cuts):
        while i + 1 < len(rows_a) and rows_a[i + 1][0] <= since:
            i += 1
        while j + 1 < len(rows_b) and rows_b[j + 1][0] <= since:
            j += 1
        pieces.append((since, until, rows_a[i][1:], rows_b[j][1:]))
    return pieces


@lru_cache(maxsize=4096)
def _profile(zone_name: str, first_day: int, days: int) -> _Profile:
    zone = ZoneInfo(zone_name)
    moment = first_day * _DAY
    end = moment + (days + 1) * _DAY
    state = _state(zone, moment)
    rows = [(moment, *state)]
    while moment < end:
        probe = min(moment + _STEP, end)
        if _state(zone, probe) == state:
            moment = probe
            continue
        low, high = moment, probe  # state holds at low, not at high: find the first second it doesn't
        while high - low > 1:
            middle = (low + high) // 2
            if _state(zone, middle) == state:
                low = middle
            else:
                high = middle
        state = _state(zone, high)
        rows.append((high, *state))
        moment = high
    return tuple(rows)


def _state(zone: ZoneInfo, moment: int) -> tuple[int, int]:
    """(UTC offset, standard offset) in seconds at an epoch second."""
    local = datetime.fromtimestamp(moment, zone)
    offset = local.utcoffset() or timedelta(0)
    dst = local.dst() or timedelta(0)
    return int(offset.total_seconds()), int((offset - dst).total_seconds())


def _example(name_a: str, name_b: str, shift_seconds: int) -> str:
    minutes = 10 * 60 + shift_seconds // 60
    day, minutes = divmod(minutes, 24 * 60)
    when = {-1: " the day before", 0: "", 1: " the next day"}[day]
    return f"A 10:00 meeting in {name_a} shows at {minutes // 60:02d}:{minutes % 60:02d}{when} in {name_b}."
