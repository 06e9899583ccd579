"""The engine's Celery entry points, one module per periodic concern; imported here for autodiscovery."""

from apps.engine.tasks import cancellation, crashed_runs, late_runs, scheduler

__all__ = ["cancellation", "crashed_runs", "late_runs", "scheduler"]
