"""Reads for collections: the worker types this server knows (generated from the pinned client)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

WORK_POOL_TYPES_PATH = Path(__file__).resolve().parent.parent / "data" / "work_pool_types.json"


@cache
def work_pool_types() -> dict:
    """{package: {worker type: metadata with default_base_job_configuration}}, as Cloud answers it."""
    return json.loads(WORK_POOL_TYPES_PATH.read_text())
