"""A workspace seeded by the real prefect 2.20 client, for the browser walk (test_walk_client_seeded.py).

`seed_with_client(praetor)` runs ONE client process (each start of the client costs seconds) that runs
ordinary flows (completed with a retried task, a cached task, a subflow, logs and artifacts; failed; a flow
that fails once and is retried), deploys a flow with a typed parameter schema (a nested pydantic model
included) into a process work pool on a cron schedule and another into an agent queue, polls that queue as an
agent does, heartbeats a worker into the process pool, saves blocks (JSON, Secret and a block type of its own
with a nested object field and a field holding another block), sets a variable, makes tag and global
concurrency limits and a few deployment runs (one late, one upcoming, one executed as a process worker would,
failing). It prints what it made as JSON, which the caller returns.
"""

from __future__ import annotations

import json
import textwrap

FLOWS = '''
from datetime import timedelta
from typing import Literal

from pydantic.v1 import BaseModel

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.tasks import task_input_hash

attempts = {"extract": 0, "flaky": 0}


class Target(BaseModel):
    table: str
    batch_size: int = 500


@task(retries=2, retry_delay_seconds=0)
def extract(n: int) -> list:
    attempts["extract"] += 1
    if attempts["extract"] == 1:
        raise RuntimeError("source not ready yet")
    return list(range(n))


@task(cache_key_fn=task_input_hash, cache_expiration=timedelta(hours=1), persist_result=True)
def cube(x: int) -> int:
    get_run_logger().info("computing the cube of %s", x)
    return x ** 3


@task
def publish(rows: list) -> int:
    text = "# Nightly load\\n\\n**%d** rows loaded.\\n\\n<script>alert(1)</script>" % len(rows)
    create_markdown_artifact(key="nightly-summary", description="What the nightly load did", markdown=text)
    create_table_artifact(key="rows-by-region", table=[{"region": "eu", "rows": 1200}, {"region": "us", "rows": 800}])
    create_link_artifact(key="load-dashboard", link="https://example.com/dashboards/load", link_text="Load dashboard")
    return len(rows)


@flow(name="walk-child")
def child(v: int) -> int:
    get_run_logger().warning("child saw %s", v)
    return v + 1


@flow(name="walk-etl", persist_result=True)
def etl(n: int = 3) -> int:
    get_run_logger().info("etl starts with n=%s", n)
    rows = extract(n)
    cubes = [cube(2), cube(2)]
    publish(rows)
    return child(sum(cubes))


@flow(name="walk-failing")
def failing():
    get_run_logger().error("cannot reach the warehouse")
    raise ValueError("the warehouse is unreachable")


@flow(name="walk-flaky", retries=1, retry_delay_seconds=0)
def flaky() -> str:
    attempts["flaky"] += 1
    if attempts["flaky"] == 1:
        raise RuntimeError("first attempt fails")
    return "ok"


@flow(name="walk-report")
def report(region: str, limit: int = 10, dry_run: bool = False, mode: Literal["append", "replace"] = "append",
           target: Target = Target(table="daily")):
    get_run_logger().info("report for %s into %s", region, target.table)
    if region == "nowhere":
        raise ValueError("no data for region nowhere")
    return limit
'''

SCRIPT = r'''
import json, os, subprocess, sys

sys.path.insert(0, SRC)

import pendulum
from pydantic.v1 import BaseModel, Field, SecretStr

from prefect import flow, get_client
from prefect.blocks.core import Block
from prefect.blocks.system import JSON, Secret
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.deployments import Deployment
from prefect.logging.handlers import APILogWorker
from prefect.states import Scheduled
from prefect.utilities.asyncutils import sync
from prefect.variables import Variable

from walkflows import etl, failing, flaky


class Endpoint(BaseModel):
    host: str
    port: int = Field(5432, ge=1, le=65535)


class Warehouse(Block):
    """Where the nightly load writes."""

    _block_type_name = "Warehouse"
    endpoint: Endpoint
    password: SecretStr
    schema_name: str = "public"
    api_token: Secret  # a field holding another saved block


def run(flow_fn):
    state = flow_fn(return_state=True)
    return str(state.state_details.flow_run_id)


out = {"etl": run(etl), "failing": run(failing), "flaky": run(flaky)}

flow.from_source(source=SRC, entrypoint="walkflows.py:report").deploy(
    name="daily", work_pool_name="proc-pool", cron="0 2 * * *", tags=["walk"],
    parameters={"region": "eu"})
Deployment.build_from_flow(etl, name="agent-etl", work_queue_name="agent-queue", path=SRC,
                           entrypoint="walkflows.py:etl").apply()

JSON(value={"regions": ["eu", "us"], "retries": 3}).save("settings")
Secret(value="tok-s3cr3t-123").save("api-token")
Warehouse(endpoint=Endpoint(host="db.internal"), password="hunter2-pw",
          api_token=Secret.load("api-token")).save("main-warehouse")
Secret(value="tok-rotated-456").save("api-token-next")
Variable.set(name="batch_size", value="500")


async def api_side():
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("walk-report/daily")
        now = pendulum.now("UTC")
        late = await client.create_flow_run_from_deployment(
            deployment.id, state=Scheduled(scheduled_time=now.subtract(minutes=10)))
        upcoming = await client.create_flow_run_from_deployment(
            deployment.id, state=Scheduled(scheduled_time=now.add(hours=1)), parameters={"region": "us"})
        queue = await client.read_work_queue_by_name("agent-queue", work_pool_name="default-agent-pool")
        await client.get_runs_in_work_queue(queue.id)  # what an agent's poll does: marks the queue polled
        await client.send_worker_heartbeat(work_pool_name="proc-pool", worker_name="walk-worker",
                                           heartbeat_interval_seconds=30)
        await client.create_concurrency_limit(tag="warehouse", concurrency_limit=2)
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="api-calls", limit=5, slot_decay_per_second=1.0))
        doomed = await client.create_flow_run_from_deployment(deployment.id, parameters={"region": "nowhere"})
        return {"late": str(late.id), "upcoming": str(upcoming.id), "deployment": str(deployment.id),
                "deployment_failed": str(doomed.id), "agent_queue": str(queue.id)}


out.update(sync(api_side))
# Run one deployment run the way a process worker does (`python -m prefect.engine` with the run's id): the
# flow is loaded from the deployment's source and fails, so the browser can retry a real deployment run.
subprocess.run([sys.executable, "-m", "prefect.engine"], cwd=SRC, timeout=120, check=False,
               env={**os.environ, "PREFECT__FLOW_RUN_ID": out["deployment_failed"]})
APILogWorker.drain_all()
print("SEEDED " + json.dumps(out))
'''


def seed_with_client(praetor, *, timeout: float = 240) -> dict:
    """Run the client once against `praetor` (tests.compat.conftest.Praetor); return the ids it reported."""
    src = praetor.home / "walksrc"
    src.mkdir(exist_ok=True)
    (src / "walkflows.py").write_text(textwrap.dedent(FLOWS))
    praetor.cli("work-pool", "create", "proc-pool", "--type", "process")
    result = praetor.run(f"SRC = {str(src)!r}\n" + SCRIPT, timeout=timeout)
    line = next(line for line in result.stdout.splitlines() if line.startswith("SEEDED "))
    seeded = json.loads(line.removeprefix("SEEDED "))
    seeded["client_seconds"] = result.seconds
    return seeded


LIVE = r'''
import time

from prefect import flow, get_run_logger


@flow(name="walk-live")
def live(ticks: int = 60):
    logger = get_run_logger()
    for i in range(ticks):
        logger.info("tick %d", i)
        time.sleep(1)


live()
'''


def start_live_flow(praetor):
    """Start (not wait for) a client process whose flow logs a line a second for a minute: a running run
    whose page must follow its logs live. The caller stops it (its own process group) with `os.killpg`."""
    import subprocess

    from tests.compat.conftest import client_python

    script = praetor.home / "walk_live.py"
    script.write_text(LIVE)
    log = (praetor.home / "walk_live.log").open("w")
    return subprocess.Popen([client_python(), str(script)], env=praetor.env(), cwd=praetor.home, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
