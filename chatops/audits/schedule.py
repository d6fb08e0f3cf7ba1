"""When a subscription's digest is due: its cadence, weekday, time and time zone, and the period a time falls in.

`subscribe` arguments are parsed here too (`weekly mon 09:00 Europe/Berlin`), so the words the grammar accepts
and the schedule the scheduler keeps are one thing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from chatops.errors import CommandError
from chatops.timezones import UnknownTimezone, iana_name


class Cadence(StrEnum):
    WEEKLY = "weekly"
    DAILY = "daily"


WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONG: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_WORDS: Final = {**{w: i for i, w in enumerate(WEEKDAYS)}, **{w: i for i, w in enumerate(_LONG)},
                         "tues": 1, "wednes": 2, "thur": 3, "thurs": 3}
_TIME: Final = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$", re.IGNORECASE)
DEFAULT_WEEKDAY: Final = 0
DEFAULT_TIME: Final = time(9, 0)
DEFAULT_TIMEZONE: Final = "UTC"


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a digest is posted: every week on `weekday` (0 = Monday), or every day, at `at` in `timezone`."""

    cadence: Cadence = Cadence.WEEKLY
    weekday: int = DEFAULT_WEEKDAY
    at: time = DEFAULT_TIME
    timezone: str = DEFAULT_TIMEZONE  # an IANA name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def length(self) -> timedelta:
        return timedelta(days=7 if self.cadence is Cadence.WEEKLY else 1)

    def _fire_on(self, day: date) -> datetime:
        # A time that doesn't exist that day (clocks go forward) is read with the offset before the change.
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def latest_fire(self, now: datetime) -> datetime:
        """The most recent scheduled time at or before `now` (UTC)."""
        local = now.astimezone(self.zone)
        day = local.date()
        if self.cadence is Cadence.WEEKLY:
            day -= timedelta(days=(local.weekday() - self.weekday) % 7)
        fire = self._fire_on(day)
        if fire > now:
            fire = self._fire_on(day - self.length)
        return fire

    def next_fire(self, now: datetime) -> datetime:
        """The first scheduled time after `now` (UTC)."""
        latest = self.latest_fire(now)
        return self._fire_on(latest.astimezone(self.zone).date() + self.length)

    def period(self, fire: datetime) -> str:
        """The period a scheduled time opens, named by its local date: a digest's idempotency key uses it."""
        return fire.astimezone(self.zone).date().isoformat()

    def describe(self) -> str:
        """'every Monday at 09:00 Europe/Berlin'."""
        when = f"every {_LONG[self.weekday].title()}" if self.cadence is Cadence.WEEKLY else "every day"
        return f"{when} at {self.at:%H:%M} {self.timezone}"


def parse_schedule(args: tuple[str, ...] | list[str]) -> Schedule:
    """`[weekly|daily] [mon] [09:00] [Europe/Berlin]` in any order; raises CommandError saying what is wrong."""
    cadence: Cadence | None = None
    weekday: int | None = None
    at: time | None = None
    zone: str | None = None
    for word in args:
        lowered = word.lower().rstrip(",")
        if lowered in ("weekly", "daily"):
            if cadence is not None:
                raise CommandError("Say weekly or daily once.")
            cadence = Cadence(lowered)
        elif lowered in _WEEKDAY_WORDS:
            if weekday is not None:
                raise CommandError("Say one weekday.")
            weekday = _WEEKDAY_WORDS[lowered]
        elif lowered[:1].isdigit():
            if at is not None:
                raise CommandError("Say one time of day.")
            at = parse_time(word)
        elif "/" in word or lowered in ("utc", "gmt") or word[:1].isupper() and len(word) > 3:
            if zone is not None:
                raise CommandError("Say one time zone.")
            zone = parse_zone(word)
        else:
            matches = difflib.get_close_matches(lowered, [*WEEKDAYS, "weekly", "daily"], n=1, cutoff=0.6)
            close = matches[0] if matches else None
            hint = f" Did you mean {close}?" if close else ""
            raise CommandError(f"I don't understand {word!r} in a schedule: use weekly or daily, a weekday "
                               f"(mon … sun), a time like 09:00 and a time zone like Europe/Berlin.{hint}",
                               None)
    if cadence is Cadence.DAILY and weekday is not None:
        raise CommandError("A daily digest has no weekday: drop the weekday, or say weekly.")
    return Schedule(cadence or Cadence.WEEKLY, DEFAULT_WEEKDAY if weekday is None else weekday,
                    at or DEFAULT_TIME, zone or DEFAULT_TIMEZONE)


def parse_time(word: str) -> time:
    """'09:00', '9:30', '17', '9am', '5:30pm' -> a time; anything else is a CommandError."""
    match = _TIME.match(word.strip())
    bad = CommandError(f"{word!r} is not a time of day; use 24-hour HH:MM, for example 09:00 or 17:30.")
    if match is None:
        raise bad
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    half = (match.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise bad
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise bad
    return time(hour, minute)


def parse_zone(word: str) -> str:
    """An IANA (or Windows) zone name -> its IANA name; an unknown one is a CommandError with a suggestion."""
    try:
        return iana_name(word)
    except UnknownTimezone as exc:
        hint = f" Did you mean {exc.suggestion}?" if exc.suggestion else ""
        raise CommandError(f"I don't know the time zone {word!r}; use an IANA name such as Europe/Berlin or "
                           f"America/New_York.{hint}") from None
