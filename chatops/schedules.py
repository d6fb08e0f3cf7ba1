"""Sync schedules: when jobs fire, which runs overlap, and which intervals a quota allows.

Cron expressions are parsed here, not by a library: croniter is not a dependency, and APScheduler's
CronTrigger.from_crontab would pull a scheduler into the core, which only the scheduler edge may use.
Standard 5-field cron fits in a page: `*`, lists, ranges, steps, month and weekday names, the @hourly
family, and Vixie cron's rule that a day matches either day field when both are restricted. Times are
evaluated in UTC.
"""

from __future__ import annotations

import calendar
import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import combinations, pairwise
from typing import Any, Final, Protocol

__all__ = [
    "FRIENDLY_INTERVALS",
    "Cron",
    "InvalidSchedule",
    "Overlap",
    "ScheduledJob",
    "SyncJob",
    "concurrent_runs",
    "fire_times",
    "overlaps",
    "parse_cron",
    "parse_job",
    "shortest_gap_minutes",
    "suggest_interval",
    "syncs_per_day",
    "too_long",
]

MINUTES_PER_DAY: Final = 24 * 60
# Intervals a person would pick, shortest first; suggest_interval answers with one of these.
FRIENDLY_INTERVALS: Final = (1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 480, 720, 1440)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# A run of unknown length (duration 0) still happens somewhere: it counts as the second it starts.
_INSTANT: Final = 1.0
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EVERY: Final = re.compile(r"(?:every\s+)?(?:(\d+)\s*)?(m|mins?|minutes?|h|hrs?|hours?)", re.IGNORECASE)
# 28 years hold every pairing of weekday and date (between two century years), so day statistics of a
# cron expression taken over them are exact.
_CYCLE_START: Final = date(2000, 1, 1)
_CYCLE_DAYS: Final = (date(2028, 1, 1) - _CYCLE_START).days


class InvalidSchedule(ValueError):
    """A schedule that can't be used, naming the field and the problem.

    Args:
        field: "minute", "hour", "day-of-month", "month", "day-of-week", "cron", or a job key
            ("interval_minutes", "duration_minutes", "name", ...).
        problem: what is wrong, in plain words.
        subject: what was being read: 'Cron "..."' or 'Sync job "..."'.
        value: the offending text of the field, when there is one.
    """

    def __init__(self, field: str, problem: str, subject: str = "", value: str | None = None) -> None:
        what = f'{field} "{value}"' if value is not None else field
        if subject:  # 'Cron "61 * * * *": minute "61": ...', 'Sync job "crm": schedule: ...'
            whole = field == "cron" and subject.startswith("Cron ")  # the subject already says which
            message = f"{subject}: {problem}." if whole else f"{subject}: {what}: {problem}."
        else:
            message = f"{what}: {problem}."
        super().__init__(message)
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed 5-field cron expression."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    # Vixie cron: when both day fields are restricted (neither starts with "*"), a day matching
    # either one fires; otherwise both must match.
    either_day: bool

    def fires_on(self, day: date) -> bool:
        """Does the expression fire at some time on this (UTC) day?"""
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        return (by_date or by_weekday) if self.either_day else (by_date and by_weekday)

    @property
    def times_of_day(self) -> tuple[int, ...]:
        """Minutes after midnight at which it fires on a day it fires."""
        return tuple(hour * 60 + minute for hour in self.hours for minute in self.minutes)


class ScheduledJob(Protocol):
    """What the functions here read from a job: a SyncJob, or any object of the same shape."""

    @property
    def name(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def interval_minutes(self) -> int | None: ...
    @property
    def cron(self) -> str | None: ...
    @property
    def duration_minutes(self) -> float: ...


@dataclass(frozen=True, slots=True)
class SyncJob:
    """One scheduled sync touching a mailbox: an interval or a cron expression, and how long a run takes.

    Interval jobs run at whole multiples of their interval since 1970-01-01 UTC (every 15 min is :00,
    :15, :30, :45), which is what schedulers that take an interval usually do.
    """

    name: str
    tool: str
    interval_minutes: int | None = None
    cron: str | None = None
    duration_minutes: float = 0.0

    def __post_init__(self) -> None:
        _validate(self)


def _validate(job: ScheduledJob) -> Cron | None:
    """Check a job's fields (any object shaped like SyncJob may come in); its parsed cron, if it has one."""
    if not isinstance(job.name, str) or not job.name.strip():
        raise InvalidSchedule("name", "a sync job needs a name")
    subject = f'Sync job "{job.name}"'
    if not isinstance(job.tool, str) or not job.tool.strip():
        raise InvalidSchedule("tool", "say which tool runs the job", subject)
    interval, cron, duration = job.interval_minutes, job.cron, job.duration_minutes
    if (interval is None) == (cron is None):
        raise InvalidSchedule(
            "schedule", "give either interval_minutes or cron, not both or neither", subject
        )
    if interval is not None and (not isinstance(interval, int) or isinstance(interval, bool) or interval < 1):
        raise InvalidSchedule("interval_minutes", "must be a whole number of minutes, at least 1", subject)
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 <= duration < math.inf:
        raise InvalidSchedule("duration_minutes", "must be a number of minutes, 0 or more", subject)
    if cron is None:
        return None
    if not isinstance(cron, str):
        raise InvalidSchedule("cron", "must be text", subject)
    return parse_cron(cron)


@dataclass(frozen=True, slots=True)
class Overlap:
    """Two jobs whose runs overlap in a window.

    Args:
        overlap_fraction: share of job_a's runs in the window that overlap a run of job_b, 0 to 1.
        overlapping_runs: how many of job_a's runs overlap one of job_b's.
        runs_a: how many runs job_a started in the window.
        example_at: when the first overlapping run of job_a started (UTC).
    """

    job_a: ScheduledJob
    job_b: ScheduledJob
    overlap_fraction: float
    overlapping_runs: int
    example_at: datetime
    runs_a: int = 0


# --- cron -------------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def parse_cron(expression: str) -> Cron:
    """Parse a 5-field cron expression (or @hourly, @daily, ...); InvalidSchedule says what is wrong."""
    text = " ".join(expression.split())
    if not text:
        raise InvalidSchedule("cron", "the expression is empty")
    if text.startswith("@"):
        if text.lower() not in _MACROS:
            raise InvalidSchedule("cron", f'"{text}" is not one of {", ".join(_MACROS)}', f'Cron "{text}"')
        return _replace_expression(parse_cron(_MACROS[text.lower()]), text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise InvalidSchedule(
            "cron",
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}",
            f'Cron "{text}"',
        )
    subject = f'Cron "{text}"'
    minutes = _field(fields[0], "minute", 0, 59, (), subject)
    hours = _field(fields[1], "hour", 0, 23, (), subject)
    days = _field(fields[2], "day-of-month", 1, 31, (), subject)
    months = _field(fields[3], "month", 1, 12, _MONTHS, subject)
    weekdays = frozenset(day % 7 for day in _field(fields[4], "day-of-week", 0, 7, _WEEKDAYS, subject))
    day_star, weekday_star = fields[2].startswith("*"), fields[4].startswith("*")
    if weekday_star and not any(day <= _longest_month(month) for month in months for day in days):
        raise InvalidSchedule(
            "day-of-month", "no month chosen has that day, so the job never runs", subject, fields[2]
        )
    return Cron(
        expression=text,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=weekdays,
        either_day=not day_star and not weekday_star,
    )


def _replace_expression(cron: Cron, expression: str) -> Cron:
    return Cron(expression, cron.minutes, cron.hours, cron.days, cron.months, cron.weekdays, cron.either_day)


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...], subject: str) -> set[int]:
    def fail(problem: str) -> InvalidSchedule:
        return InvalidSchedule(name, problem, subject, text)

    def number(token: str) -> int:
        if re.fullmatch(r"[0-9]+", token):
            value = int(token)
        elif token.lower() in names:
            value = names.index(token.lower()) + (1 if names is _MONTHS else 0)
        else:
            kind = {_MONTHS: " or a month name", _WEEKDAYS: " or a weekday name"}.get(names, "")
            raise fail(f'"{token}" is not a number{kind}')
        if not low <= value <= high:
            raise fail(f"{value} is outside {low}-{high}")
        return value

    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise fail("a list item is empty")
        span, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not re.fullmatch(r"[0-9]+", step_text):
                raise fail(f'the step "{step_text}" is not a number')
            step = int(step_text)
            if step < 1:
                raise fail("the step must be at least 1")
            if step > high - low + 1:
                raise fail(f"the step {step} is longer than the whole field ({low}-{high})")
        if span == "*":
            first, last = low, (6 if names is _WEEKDAYS else high)
        elif "-" in span:
            first_text, _, last_text = span.partition("-")
            first, last = number(first_text), number(last_text)
            if names is _WEEKDAYS and last == 0 and first > 0:
                last = 7  # "mon-sun": Sunday closes the week as 7
            if first > last:
                raise fail(f"the range {first_text}-{last_text} runs backwards")
        else:
            first = number(span)
            last = high if slash else first  # "5/15" means from 5 to the end, every 15
        values.update(range(first, last + 1, step))
    return values


# --- jobs -------------------------------------------------------------------------------------------


def parse_job(data: Mapping[str, Any]) -> SyncJob:
    """A SyncJob from configuration or a provider payload.

    Keys: name, tool, duration_minutes (optional), and one of interval_minutes, cron, or schedule
    ("every 5 min", "every 2 hours", "15m", or a cron expression).
    """
    name = data.get("name")
    subject = f'Sync job "{name}"' if isinstance(name, str) and name.strip() else "Sync job"
    given = [key for key in ("interval_minutes", "cron", "schedule") if data.get(key) not in (None, "")]
    if len(given) != 1:
        problem = (
            "give interval_minutes, cron or schedule"
            if not given
            else f"give only one of {' and '.join(given)}"
        )
        raise InvalidSchedule("schedule", problem, subject)
    interval, cron = data.get("interval_minutes"), data.get("cron")
    if given == ["schedule"]:
        interval, cron = _schedule_text(data["schedule"], subject)
    if cron is not None and not isinstance(cron, str):
        raise InvalidSchedule("cron", "must be text", subject)
    duration = data.get("duration_minutes", 0.0)
    if duration is None:
        duration = 0.0
    return SyncJob(
        name=name,  # type: ignore[arg-type]  # SyncJob checks every field's type itself
        tool=data.get("tool"),  # type: ignore[arg-type]
        interval_minutes=interval,
        cron=cron,
        duration_minutes=duration,
    )


def _schedule_text(value: Any, subject: str) -> tuple[int | None, str | None]:
    if not isinstance(value, str):
        raise InvalidSchedule("schedule", 'must be text such as "every 5 min" or a cron expression', subject)
    text = " ".join(value.split())
    every = _EVERY.fullmatch(text)
    if every and (every.group(1) or text.lower().startswith("every")):
        count = int(every.group(1) or 1)
        minutes = count * (60 if every.group(2).lower().startswith("h") else 1)
        if minutes < 1:
            raise InvalidSchedule("schedule", f'"{text}" is not at least one minute', subject)
        return minutes, None
    if text.lower() == "hourly":
        return 60, None
    if text.lower().startswith("every"):
        raise InvalidSchedule(
            "schedule",
            f'"{text}" is not "every N min" or "every N hours"; a cron expression works too',
            subject,
        )
    return None, text


def fire_times(job: ScheduledJob, start: datetime, end: datetime) -> Iterator[datetime]:
    """When the job starts runs in [start, end), in UTC. Naive datetimes are taken as UTC."""
    cron = _validate(job)
    start, end = _utc(start), _utc(end)
    if end <= start:
        return
    if cron is None:
        step = timedelta(minutes=_interval(job))
        moment = _EPOCH + step * -((_EPOCH - start) // step)  # the first whole step at or after start
        while moment < end:
            yield moment
            moment += step
        return
    times = cron.times_of_day
    day = start.date()
    while day <= end.date():
        if cron.fires_on(day):
            midnight = datetime.combine(day, time(), UTC)
            for minute in times:
                moment = midnight + timedelta(minutes=minute)
                if moment >= end:
                    return
                if moment >= start:
                    yield moment
        day += timedelta(days=1)


def syncs_per_day(job: ScheduledJob) -> float:
    """How many runs the job starts on an average day."""
    cron = _validate(job)
    if cron is None:
        return MINUTES_PER_DAY / _interval(job)
    firing_days, _ = _day_pattern(cron.expression)
    return firing_days / _CYCLE_DAYS * len(cron.times_of_day)


def shortest_gap_minutes(job: ScheduledJob) -> int:
    """The shortest time between two successive runs' starts."""
    cron = _validate(job)
    if cron is None:
        return _interval(job)
    times = cron.times_of_day
    _, closest_days = _day_pattern(cron.expression)
    across_midnight = closest_days * MINUTES_PER_DAY - times[-1] + times[0]
    within_day = min((later - earlier for earlier, later in pairwise(times)), default=across_midnight)
    return min(within_day, across_midnight)


def _interval(job: ScheduledJob) -> int:
    assert job.interval_minutes is not None  # _validate said so
    return job.interval_minutes


def too_long(job: ScheduledJob) -> bool:
    """Does a run last longer than the gap to the next one, so that runs pile up?"""
    return job.duration_minutes > shortest_gap_minutes(job)


@lru_cache(maxsize=1024)
def _day_pattern(expression: str) -> tuple[int, int]:
    """(days the cron fires in the 28-year cycle, fewest days between two firing days)."""
    cron = parse_cron(expression)
    firing = [n for n in range(_CYCLE_DAYS) if cron.fires_on(_CYCLE_START + timedelta(days=n))]
    closest = min((later - earlier for earlier, later in pairwise(firing)), default=_CYCLE_DAYS)
    return len(firing), closest


def suggest_interval(calls_per_sync: int, daily_limit: int, used_by_others: int = 0) -> int | None:
    """The shortest friendly interval (minutes) at which a day of syncs fits in what is left of the quota.

    None when not even one sync a day fits.
    """
    if calls_per_sync < 0:
        raise ValueError(f"calls_per_sync can't be negative, not {calls_per_sync}")
    if daily_limit < 0 or used_by_others < 0:
        raise ValueError("daily_limit and used_by_others can't be negative")
    left = daily_limit - used_by_others
    for interval in FRIENDLY_INTERVALS:
        if MINUTES_PER_DAY // interval * calls_per_sync <= left:
            return interval
    return None


# --- overlaps ---------------------------------------------------------------------------------------


def overlaps(jobs: Sequence[ScheduledJob], start: datetime, hours: int = 24) -> list[Overlap]:
    """Pairs of jobs whose runs overlap in the `hours` after `start`, most overlapping first.

    The jobs are those touching one mailbox. A run occupies [fire, fire + duration); job_a is the
    pair's earlier job in `jobs`, and the fraction is the share of job_a's runs that overlap any run of
    job_b. Pairs that never overlap are left out.
    """
    if hours < 1:
        raise ValueError(f"hours must be at least 1, not {hours}")
    start = _utc(start)
    end = start + timedelta(hours=hours)
    found: list[Overlap] = []
    for job_a, job_b in combinations(jobs, 2):
        overlap = _overlap(job_a, job_b, start, end)
        if overlap is not None:
            found.append(overlap)
    return sorted(found, key=lambda overlap: -overlap.overlap_fraction)


def _overlap(job_a: ScheduledJob, job_b: ScheduledJob, start: datetime, end: datetime) -> Overlap | None:
    length_a = _seconds_occupied(job_a)
    length_b = _seconds_occupied(job_b)
    runs_a = [_seconds(moment) for moment in fire_times(job_a, start, end)]
    # b's runs that started before the window may still be going; those that start after a run of a
    # began but before it ended count too.
    b_from = start - timedelta(seconds=length_b)
    b_to = end + timedelta(seconds=length_a)
    runs_b = [_seconds(moment) for moment in fire_times(job_b, b_from, b_to)]
    hits = 0
    first_hit: float | None = None
    for run in runs_a:
        # the first b run that is still going when this run starts: b_start > run - length_b
        index = bisect_right(runs_b, run - length_b)
        if index < len(runs_b) and runs_b[index] < run + length_a:
            hits += 1
            if first_hit is None:
                first_hit = run
    if first_hit is None:
        return None
    return Overlap(
        job_a=job_a,
        job_b=job_b,
        overlap_fraction=hits / len(runs_a),
        overlapping_runs=hits,
        example_at=_EPOCH + timedelta(seconds=first_hit),
        runs_a=len(runs_a),
    )


def _seconds_occupied(job: ScheduledJob) -> float:
    return max(job.duration_minutes * 60.0, _INSTANT)


def _seconds(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


def concurrent_runs(runs: Iterable[tuple[str, datetime, datetime]]) -> list[tuple[str, str, datetime]]:
    """Which jobs were running at the same moment, from observed runs (job name, start, end).

    One entry per pair of overlapping runs of two different jobs: (name, other name, when the overlap
    began), the names in alphabetical order, sorted by time. A run without an end later than its start
    counts as the moment it started; naive datetimes are taken as UTC.
    """
    ordered = sorted(
        ((_utc(begin), _utc(finish), name) for name, begin, finish in runs), key=lambda run: (run[0], run[2])
    )
    found: list[tuple[str, str, datetime]] = []
    running: list[tuple[datetime, datetime, str]] = []  # (start, effective end, name)
    for begin, finish, name in ordered:
        finish = max(finish, begin + timedelta(microseconds=1))
        running = [run for run in running if run[1] > begin]
        for _, _, other in running:
            if other != name:
                first, second = sorted((name, other))
                found.append((first, second, begin))
        running.append((begin, finish, name))
    return found


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def describe(job: ScheduledJob) -> str:
    """'Einstein Activity Capture, every 5 min, runs take 2 min' for cards and evidence."""
    every = f"every {job.interval_minutes} min" if job.interval_minutes else f"cron '{job.cron}'"
    return f"{job.tool}, {every}, runs take {job.duration_minutes:g} min"
