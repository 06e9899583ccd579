"""Run history (flow_runs/history): runs bucketed by expected start time into fixed intervals, counted per
state type and name, with their summed estimated run time and lateness (Prefect's HistoryResponse)."""

from __future__ import annotations

import datetime
import math

from django.utils import timezone

from apps.core.errors import Invalid
from apps.engine.schemas.runs import estimates

MAX_INTERVALS = 500


class _Row:
    __slots__ = ("end_time", "expected_start_time", "start_time", "state_name", "state_timestamp", "state_type",
                 "total_run_time")

    def __init__(self, values: dict):
        for key in self.__slots__:
            setattr(self, key, values[key])


def run_history(runs, body: dict) -> list[dict]:
    """`runs` is an already filtered queryset; the body gives history_start, history_end and the interval."""
    start, end = body["history_start"], body["history_end"]
    interval = datetime.timedelta(seconds=body["history_interval_seconds"])
    if end <= start:
        raise Invalid("history_end must be after history_start.", loc=["body", "history_end"])
    count = math.ceil((end - start) / interval)
    if count > MAX_INTERVALS:
        raise Invalid(f"History would have {count} intervals; at most {MAX_INTERVALS} are served.",
                      loc=["body", "history_interval_seconds"])
    buckets: list[dict] = [{} for _ in range(count)]
    now = timezone.now()
    rows = runs.filter(expected_start_time__gte=start, expected_start_time__lt=start + interval * count).values(
        *_Row.__slots__)
    for values in rows.iterator():
        row = _Row(values)
        index = int((row.expected_start_time - start) / interval)
        run_time, lateness = estimates(row, now)
        key = (row.state_type, row.state_name)
        agg = buckets[index].setdefault(key, [0, 0.0, 0.0])
        agg[0] += 1
        agg[1] += max(0.0, run_time)
        agg[2] += max(0.0, lateness)
    return [
        {
            "interval_start": (start + interval * i).isoformat(),
            "interval_end": (start + interval * (i + 1)).isoformat(),
            "states": [
                {"state_type": state_type, "state_name": state_name, "count_runs": n,
                 "sum_estimated_run_time": run_time, "sum_estimated_lateness": lateness}
                for (state_type, state_name), (n, run_time, lateness) in sorted(
                    buckets[i].items(), key=lambda item: (item[0][0] or "", item[0][1] or ""))
            ],
        }
        for i in range(count)
    ]
