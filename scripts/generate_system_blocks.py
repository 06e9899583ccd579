"""Generate apps/engine/data/system_blocks.json from the prefect 2.20 client's own block classes, and
apps/engine/data/work_pool_types.json from its built-in worker classes.

Run with the client's interpreter (scripts/prefect-env.sh prints it):
    .venv-prefect/bin/python scripts/generate_system_blocks.py

The file records, for each block class the client ships, the block type and block schema (fields,
checksum, capabilities, version) exactly as the client computes them with `_to_block_type()` and
`_to_block_schema()`: the client looks these up by slug and checksum, so they are interface data.
Protected types are the ones a Prefect server installs as protected at start-up. The worker file is
what Cloud's `collections/work_pool_types` answers for the workers the client itself ships
(`{package: {worker type: metadata}}`, read by prefect/workers/utilities.py).
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from pathlib import Path

MODULES = [
    "prefect.blocks.system",
    "prefect.blocks.webhook",
    "prefect.blocks.notifications",
    "prefect.blocks.kubernetes",
    "prefect.filesystems",
    "prefect.infrastructure",
    "prefect.concurrency.services",
]
PROTECTED = {"webhook", "json", "date-time", "secret", "local-file-system", "process"}
DATA = Path(__file__).resolve().parent.parent / "apps" / "engine" / "data"
OUT = DATA / "system_blocks.json"
WORKERS_OUT = DATA / "work_pool_types.json"


def main() -> None:
    import prefect
    from prefect.blocks.core import Block
    from prefect.utilities.dispatch import get_registry_for_type

    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    registry = get_registry_for_type(Block) or {}
    entries = []
    for block_class in sorted(registry.values(), key=lambda c: c.get_block_type_slug()):
        block_type = block_class._to_block_type()
        schema = block_class._to_block_schema(block_type_id=uuid.UUID(int=0))
        entries.append(
            {
                "block_type": {
                    "name": block_type.name,
                    "slug": block_type.slug,
                    "logo_url": str(block_type.logo_url) if block_type.logo_url else None,
                    "documentation_url": str(block_type.documentation_url) if block_type.documentation_url else None,
                    "description": block_type.description,
                    "code_example": block_type.code_example,
                    "is_protected": block_type.slug in PROTECTED,
                },
                "block_schema": {
                    "checksum": schema.checksum,
                    "fields": schema.fields,
                    "capabilities": sorted(schema.capabilities),
                    "version": schema.version,
                },
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    document = {"prefect_version": prefect.__version__, "blocks": entries}
    OUT.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    sys.stderr.write(f"wrote {len(entries)} block types to {OUT}\n")
    write_worker_metadata()


def write_worker_metadata() -> None:
    from prefect.workers.base import BaseWorker

    workers = {}
    for worker_type in sorted(BaseWorker.get_all_available_worker_types()):
        worker = BaseWorker.get_worker_class_from_type(worker_type)
        workers[worker_type] = {
            "type": worker_type,
            "display_name": worker._display_name,
            "description": worker.get_description(),
            "documentation_url": worker.get_documentation_url(),
            "logo_url": worker.get_logo_url(),
            "is_beta": bool(getattr(worker, "_is_beta", False)),
            "install_command": "pip install prefect",
            "default_base_job_configuration": worker.get_default_base_job_template(),
        }
    WORKERS_OUT.write_text(json.dumps({"prefect": workers}, indent=1, sort_keys=True) + "\n")
    sys.stderr.write(f"wrote {len(workers)} worker types to {WORKERS_OUT}\n")


if __name__ == "__main__":
    main()
