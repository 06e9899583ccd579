"""Celery: Redis as broker when REDIS_URL is set; otherwise kombu's filesystem transport under var/,
which a single machine's web, worker and beat processes share."""

from pathlib import Path

from config.env import env

_DATA_DIR = Path(env("PRAETOR_DATA_DIR", str(Path(__file__).resolve().parent.parent.parent / "var")))
_REDIS_URL = env("REDIS_URL", "")

if _REDIS_URL:
    CELERY_BROKER_URL = _REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    _queue_dir = _DATA_DIR / "celery" / "queue"
    _processed_dir = _DATA_DIR / "celery" / "processed"
    for _d in (_queue_dir, _processed_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport with its faults fixed (a half-written message crashed the worker; a full
    # prefetch window stalled it 2 s at a time): see apps/core/broker.py.
    CELERY_BROKER_TRANSPORT = "apps.core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Without control_folder kombu writes its exchange tables to ./control in the working dir.
        "control_folder": str(_DATA_DIR / "celery" / "control"),
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "store_processed": False,
    }

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(_DATA_DIR / "celerybeat-schedule")
# Periodic tasks: each app adds its entries here by name (see apps/*/tasks.py). Every periodic task
# is idempotent, so two beat processes (a rolling deploy) only cost a duplicate run.
CELERY_BEAT_SCHEDULE: dict = {
    "clear-expired-sessions": {
        "task": "praetor.core.clear_expired_sessions",
        "schedule": env("PRAETOR_SESSION_SWEEP_SECONDS", 3600.0, cast=float),
    },
    "praetor.audit.apply_retention": {"task": "praetor.audit.apply_retention", "schedule": 3600.0},
    # Run history past each tier's retention (flow runs, task runs, logs), in short batches.
    "praetor.billing.apply_run_retention": {
        "task": "praetor.billing.apply_run_retention",
        "schedule": env("PRAETOR_RUN_RETENTION_SECONDS", 3600.0, cast=float),
    },
    # The engine's loops (Prefect's scheduler, late-runs, crashed-runs and cancellation-cleanup services).
    "praetor.engine.schedule_deployments": {
        "task": "praetor.engine.schedule_deployments",
        "schedule": env("PRAETOR_SCHEDULER_SECONDS", 10.0, cast=float),
    },
    "praetor.engine.mark_late_runs": {
        "task": "praetor.engine.mark_late_runs",
        "schedule": env("PRAETOR_LATE_RUNS_SECONDS", 5.0, cast=float),
    },
    "praetor.engine.mark_crashed_runs": {
        "task": "praetor.engine.mark_crashed_runs",
        "schedule": env("PRAETOR_CRASHED_RUNS_SECONDS", 30.0, cast=float),
    },
    "praetor.engine.clean_up_cancellations": {
        "task": "praetor.engine.clean_up_cancellations",
        "schedule": env("PRAETOR_CANCELLATION_CLEANUP_SECONDS", 20.0, cast=float),
    },
}
