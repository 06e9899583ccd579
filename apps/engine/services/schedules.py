"""Schedule documents (Prefect 2.20's IntervalSchedule, CronSchedule, RRuleSchedule): validation and the
dates they fire at. Pure functions, no database: the scheduler and the API both call them.

A schedule document is stored as the JSON the client sends: `{"interval": seconds, "anchor_date", "timezone"}`,
`{"cron", "timezone", "day_or"}` or `{"rrule", "timezone"}`.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterator

import dateutil.rrule
import dateutil.tz
from croniter import CroniterBadDateError, croniter
from django.utils.dateparse import parse_datetime

from apps.core.errors import Invalid

MAX_ITERATIONS = 1000  # candidate dates examined per call, as Prefect
MAX_RRULE_LENGTH = 6500
_RRULE_ANCHOR = datetime.datetime(2020, 1, 1)  # Prefect's DEFAULT_ANCHOR_DATE for rrules without DTSTART
_VALID_TIMEZONES = frozenset(zoneinfo.available_timezones())


def _invalid(msg: str, loc: list) -> Invalid:
    return Invalid(msg, loc=loc, code="schedule")


def _timezone(value, loc: list, default: str | None) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str) or value not in _VALID_TIMEZONES:
        raise _invalid(f'Invalid timezone: "{value}"', [*loc, "timezone"])
    return value


def schedule_normalize(document, *, loc: list | None = None) -> dict:
    """Validate a schedule document and return it with defaults filled in (anchor date, time zone).

    Raises Invalid (422) for unknown kinds, non-positive intervals, bad cron or rrule syntax,
    cron's random/hashed forms, over-long rrules and unknown time zones.
    """
    loc = list(loc or ["body", "schedule"])
    if not isinstance(document, dict):
        raise _invalid("A schedule must be an object with `interval`, `cron` or `rrule`.", loc)
    kinds = [k for k in ("interval", "cron", "rrule") if k in document]
    if len(kinds) != 1:
        raise _invalid("A schedule must have exactly one of `interval`, `cron` or `rrule`.", loc)
    kind = kinds[0]
    allowed = {"interval": {"interval", "anchor_date", "timezone"}, "cron": {"cron", "timezone", "day_or"},
               "rrule": {"rrule", "timezone"}}[kind]
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise _invalid(f"Unknown field(s) for a {kind} schedule: {', '.join(unknown)}.", [*loc, unknown[0]])
    normalize = {"interval": _interval_normalize, "cron": _cron_normalize, "rrule": _rrule_normalize}[kind]
    normalized = normalize(document, loc)
    # A schedule that will never fire again is a mistake the author should hear about now, not a silent no-op.
    if next(schedule_dates(normalized, start=datetime.datetime.now(datetime.UTC)), None) is None:
        raise _invalid("This schedule never fires: it has no date from now on.", [*loc, kind])
    return normalized


def _interval_normalize(document: dict, loc: list) -> dict:
    seconds = document["interval"]
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise _invalid("interval must be a number of seconds", [*loc, "interval"])
    if seconds <= 0:
        raise _invalid("The interval must be positive", [*loc, "interval"])
    anchor = document.get("anchor_date")
    if anchor is None:
        anchor_dt = datetime.datetime.now(datetime.UTC)
    else:
        anchor_dt = parse_datetime(anchor) if isinstance(anchor, str) else None
        if anchor_dt is None:
            raise _invalid("anchor_date must be an ISO 8601 date-time", [*loc, "anchor_date"])
        if anchor_dt.tzinfo is None:
            anchor_dt = anchor_dt.replace(tzinfo=datetime.UTC)
    timezone = _timezone(document.get("timezone"), loc, None)
    if timezone is None:
        # as Prefect: the anchor's own zone if it names one, else UTC (ISO strings carry bare offsets)
        timezone = getattr(anchor_dt.tzinfo, "key", None) or "UTC"
    return {"interval": float(seconds), "anchor_date": anchor_dt.isoformat(), "timezone": timezone}


def _cron_normalize(document: dict, loc: list) -> dict:
    cron = document["cron"]
    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise _invalid(f'Invalid cron string: "{cron}"', [*loc, "cron"])
    if any(part.casefold() in ("r", "h") for part in cron.split()):
        raise _invalid(f'Random and Hashed expressions are unsupported, received: "{cron}"', [*loc, "cron"])
    day_or = document.get("day_or", True)
    if not isinstance(day_or, bool):
        raise _invalid("day_or must be a boolean", [*loc, "day_or"])
    timezone = _timezone(document.get("timezone"), loc, None)
    return {"cron": cron, "timezone": timezone, "day_or": day_or}


def _rrule_normalize(document: dict, loc: list) -> dict:
    text = document["rrule"]
    if not isinstance(text, str):
        raise _invalid("rrule must be a string", [*loc, "rrule"])
    if len(text) > MAX_RRULE_LENGTH:
        raise _invalid(f"Invalid RRule string: max length is {MAX_RRULE_LENGTH}, got {len(text)}", [*loc, "rrule"])
    try:
        dateutil.rrule.rrulestr(text, cache=True)
    except (ValueError, TypeError) as exc:
        raise _invalid(f'Invalid RRule string "{text}": {exc}', [*loc, "rrule"]) from None
    timezone = _timezone(document.get("timezone"), loc, "UTC")
    return {"rrule": text, "timezone": timezone}


def schedule_dates(document: dict, *, start: datetime.datetime, end: datetime.datetime | None = None,
                   n: int | None = None) -> Iterator[datetime.datetime]:
    """Yield the aware datetimes at or after `start` (and not after `end`) the schedule fires at, in order.

    Without `n`, yields one date, or every date up to `end` when it is given; never examines more than
    MAX_ITERATIONS candidates, so a schedule that never fires ends instead of spinning.
    """
    if n is None:
        n = MAX_ITERATIONS if end is not None else 1
    if "interval" in document:
        candidates = _interval_candidates(document, start)
    elif "cron" in document:
        candidates = _cron_candidates(document, start)
    else:
        candidates = _rrule_candidates(document, start)
    seen: set[datetime.datetime] = set()
    for counter, date in enumerate(candidates):
        if end is not None and date > end:
            return
        if date >= start and date not in seen:
            seen.add(date)
            yield date
            if len(seen) >= n:
                return
        if counter >= MAX_ITERATIONS:
            return


def _zone(name: str | None) -> datetime.tzinfo:
    return zoneinfo.ZoneInfo(name) if name else datetime.UTC


def _interval_candidates(document: dict, start: datetime.datetime) -> Iterator[datetime.datetime]:
    zone = _zone(document.get("timezone"))
    anchor = datetime.datetime.fromisoformat(document["anchor_date"]).astimezone(zone)
    interval = datetime.timedelta(seconds=document["interval"])
    # Whole days are added in local wall time (so "every day at 9:00" stays at 9:00 across DST);
    # the remainder in absolute time, as Prefect does.
    days, rest = interval.days, interval - datetime.timedelta(days=interval.days)
    steps = max(0, int((start - anchor) / interval))
    if days:
        local = anchor.replace(tzinfo=None) + datetime.timedelta(days=days) * steps
        current = (local.replace(tzinfo=zone) + rest * steps).astimezone(zone)
    else:
        current = (anchor + interval * steps).astimezone(zone)

    def advance(dt: datetime.datetime) -> datetime.datetime:
        if days:
            dt = (dt.replace(tzinfo=None) + datetime.timedelta(days=days)).replace(tzinfo=zone)
        return (dt.astimezone(datetime.UTC) + rest).astimezone(zone)

    while current < start:
        current = advance(current)
    while True:
        yield current.astimezone(datetime.UTC)
        current = advance(current)


def _cron_candidates(document: dict, start: datetime.datetime) -> Iterator[datetime.datetime]:
    zone = _zone(document.get("timezone"))
    # One second back so that a start exactly on a cron time is itself a candidate; croniter walks
    # local wall time and resolves DST with the zone attached.
    local_start = (start - datetime.timedelta(seconds=1)).astimezone(zone)
    if local_start.microsecond:
        local_start = local_start.replace(microsecond=0) + datetime.timedelta(seconds=1)
    itr = croniter(document["cron"], local_start, day_or=document.get("day_or", True))
    while True:
        try:
            yield itr.get_next(datetime.datetime).astimezone(datetime.UTC)
        except CroniterBadDateError:  # no such date within croniter's search horizon (e.g. 30 February)
            return


def _rrule_candidates(document: dict, start: datetime.datetime) -> Iterator[datetime.datetime]:
    zone = dateutil.tz.gettz(document.get("timezone") or "UTC")
    rule = dateutil.rrule.rrulestr(document["rrule"], dtstart=_RRULE_ANCHOR, cache=True)
    rule = _localize_rrule(rule, zone)
    local_start = start.astimezone(zone)
    current = rule.after(local_start, inc=True)
    while current is not None:
        yield current.astimezone(datetime.UTC)
        current = rule.after(current, inc=False)


def _localize_rrule(rule, zone):
    """rrulestr drops time zones: give naive DTSTART/UNTIL (and rruleset dates) the schedule's zone."""

    def fix(r):
        kwargs = {"dtstart": r._dtstart.replace(tzinfo=zone)}
        if r._until:
            kwargs["until"] = r._until.replace(tzinfo=zone)
        return r.replace(**kwargs)

    if isinstance(rule, dateutil.rrule.rrule):
        return fix(rule)
    rule._rrule = [fix(r) for r in rule._rrule]
    rule._exrule = [fix(r) for r in rule._exrule]
    rule._rdate = [d.replace(tzinfo=zone) for d in rule._rdate]
    rule._exdate = [d.replace(tzinfo=zone) for d in rule._exdate]
    return rule
