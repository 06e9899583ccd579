"""Orchestration engine knobs."""

from config.env import env

# How long a task run that found its tag's concurrency limit full is told to wait before proposing
# Running again (Prefect's PREFECT_TASK_RUN_TAG_CONCURRENCY_SLOT_WAIT_SECONDS, same default).
PRAETOR_TASK_CONCURRENCY_SLOT_WAIT_SECONDS = env("PRAETOR_TASK_CONCURRENCY_SLOT_WAIT_SECONDS", 30, cast=int)
