"""flow_runs/filter pages of the common shape (flow run ids and flow ids only) are read by a query compiled once
per shape (`flow_run_page`); they must be the queryset's page exactly, for generated bodies validated as the API
validates them: the same runs in the same order, rendered the same (state, work queue and pool included)."""

from __future__ import annotations

import datetime
import json
import random
import uuid

import pytest

from apps.engine.api.flows import parse_plain
from apps.engine.models.runs import Flow, FlowRun
from apps.engine.schemas import filters
from apps.engine.schemas.runs import flow_run_json
from apps.engine.selectors import flow_runs as selectors
from apps.engine.services.flow_runs import flow_run_create, flow_run_set_state
from tests.factories.workspaces import WorkspaceFactory
from tests.web.seed import seed_workspace

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.UTC)


def _runs(workspace, rng: random.Random) -> tuple[list, list]:
    seeded = seed_workspace(workspace)
    flows = [seeded.flow, *(Flow.all_workspaces.create(workspace=workspace, name=f"f{i}") for i in range(3))]
    for i in range(30):
        flow = rng.choice(flows)
        state = rng.choice([None, {"type": "SCHEDULED", "state_details": {
            "scheduled_time": (NOW + datetime.timedelta(minutes=rng.randint(-50, 50))).isoformat()}}])
        run, _ = flow_run_create(workspace=workspace, flow_id=flow.pk, name=rng.choice(["a", "b", f"r{i}"]),
                                 state=state, work_queue_id=rng.choice([None, seeded.queue.pk]))
        if rng.random() < 0.5:
            flow_run_set_state(workspace=workspace, flow_run_id=run.pk, state={"type": "RUNNING"}, force=True)
    runs = list(FlowRun.objects.for_workspace(workspace).values_list("pk", flat=True))
    return [str(pk) for pk in runs], [str(f.pk) for f in flows]


def _ids(rng, known: list, strangers: list) -> list:
    pool = known + strangers + [str(uuid.uuid4())]
    ids = [rng.choice(pool) for _ in range(rng.randint(1, 8))]
    return [i.upper() if rng.random() < 0.1 else i for i in ids]


def _body(rng, runs, flows, strangers) -> dict:
    body = {}
    for key, known in (("flow_runs", runs), ("flows", flows)):
        if rng.random() < 0.6:
            body[key] = {"id": {"any_": _ids(rng, known, strangers)}}
            if rng.random() < 0.3:
                body[key]["operator"] = rng.choice(["and_", "or_"])
    if rng.random() < 0.8:
        body["sort"] = rng.choice([*selectors.FLOW_RUN_SORTS, None])
    if rng.random() < 0.7:
        body["limit"] = rng.choice([None, 1, 3, 10, 200])
    if rng.random() < 0.4:
        body["offset"] = rng.choice([0, 1, 5, 40])
    if rng.random() < 0.1:  # not the common shape: the queryset answers
        body.setdefault("flow_runs", {})["name"] = {"any_": ["a"]}
    return body


def _rendered(runs) -> str:
    return json.dumps([flow_run_json(run, now=NOW) for run in runs])


def test_a_page_by_ids_is_the_querysets_page_for_generated_bodies(workspace):
    rng = random.Random(1206)
    runs, flows = _runs(workspace, rng)
    other = WorkspaceFactory()
    stranger_runs, stranger_flows = _runs(other, rng)
    selectors._PAGES.clear()
    compiled = fallback = nonempty = 0
    for _ in range(400):
        body = parse_plain(filters.FlowRunFilterBody, _body(rng, runs, flows, stranger_runs + stranger_flows))
        expected = list(selectors.flow_run_list(workspace=workspace, body=body, sort=body.get("sort", "ID_DESC"))
                        [filters.page(body)])
        got = selectors.flow_run_page(workspace=workspace, body=body)
        assert [r.pk for r in got] == [r.pk for r in expected], body
        assert _rendered(got) == _rendered(expected), body
        found = selectors._page_shape(body)
        if found is not None and selectors._PAGES.get(found[0]) is not None:
            compiled += 1
        else:
            fallback += 1
        nonempty += bool(expected)
    assert compiled > 250 and fallback > 30 and nonempty > 120, (compiled, fallback, nonempty)
    assert None not in selectors._PAGES.values()
    assert not set(_ids_of(selectors.flow_run_page(workspace=workspace, body={
        "flow_runs": {"operator": "and_", "id": {"any_": stranger_runs[:5]}}}))) & set(stranger_runs)


def _ids_of(runs) -> list:
    return [str(r.pk) for r in runs]


def test_a_shape_read_by_ids_costs_one_query(workspace, django_assert_num_queries):
    rng = random.Random(7)
    runs, flows = _runs(workspace, rng)
    body = parse_plain(filters.FlowRunFilterBody, {"flows": {"id": {"any_": flows[:1]}}, "sort": "START_TIME_DESC",
                                                   "limit": 10})
    selectors.flow_run_page(workspace=workspace, body=body)
    with django_assert_num_queries(1):
        page = selectors.flow_run_page(workspace=workspace, body=body)
        _rendered(page)  # state, work queue and pool come with the runs
