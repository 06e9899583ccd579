"""`__prefect_kind` parameters with the real prefect 2.20 client: `run_deployment` with a workspace variable and a
JSON value makes a run whose flow, started by an agent, receives the hydrated values; a variable the workspace does
not have (another workspace's) is the client's HTTP 400 with 2.20's detail, and no run is made. A flow paused for
input receives the hydrated input it is resumed with."""

from __future__ import annotations

import textwrap

import pytest

from apps.engine.models import FlowRun, Log, StateType
from apps.engine.services.variables import variable_create
from tests.compat.helpers import approval_gate, client_paused
from tests.compat.test_hybrid import FAST_POLLS
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.slow

GREET = """
    from prefect import flow

    @flow(log_prints=True)
    def greet(who: str = "nobody", cfg: dict = None):
        print(f"WHO={who!r} CFG={cfg!r}")
        return who
"""


def test_a_deployment_run_receives_hydrated_parameters(praetor):
    variable_create(workspace=praetor.workspace, name="greeting", value="hello there", tags=[])
    other = WorkspaceFactory(organization=praetor.organization)
    variable_create(workspace=other, name="theirs", value="not yours", tags=[])
    src = praetor.home / "flowsrc"
    src.mkdir()
    (src / "greet.py").write_text(textwrap.dedent(GREET))
    out = praetor.run(f"""
        import json, sys; sys.path.insert(0, {str(src)!r})
        from prefect.deployments import Deployment, run_deployment
        from greet import greet
        Deployment.build_from_flow(greet, name="hyd", work_queue_name="default", path={str(src)!r},
                                   entrypoint="greet.py:greet",
                                   parameters={{"who": {{"__prefect_kind": "workspace_variable",
                                                         "variable_name": "greeting"}}}}).apply()
        run = run_deployment("greet/hyd", timeout=0, parameters={{
            "cfg": {{"__prefect_kind": "json", "value": '{{"a": [1, 2], "b": null}}'}}}})
        print("PARAMETERS", json.dumps(run.parameters, sort_keys=True))
        try:
            run_deployment("greet/hyd", timeout=0, parameters={{
                "who": {{"__prefect_kind": "workspace_variable", "variable_name": "theirs"}}}})
        except Exception as exc:
            print("REFUSED", exc.response.status_code, exc.response.json()["detail"])
    """)
    assert 'PARAMETERS {"cfg": {"a": [1, 2], "b": null}, "who": "hello there"}' in out.stdout, out.describe()
    assert ("REFUSED 400 Error hydrating flow run parameters: Variable 'theirs' not found in workspace."
            in out.stdout), out.describe()
    (run,) = FlowRun.objects.for_workspace(praetor.workspace).filter(deployment__name="hyd")

    agent = praetor.cli("agent", "start", "-q", "default", "--run-once", timeout=180, env=FAST_POLLS)
    run.refresh_from_db()
    assert run.state_type == StateType.COMPLETED, agent.describe()
    printed = list(Log.objects.for_workspace(praetor.workspace).filter(flow_run_id=run.pk, message__startswith="WHO=")
                   .values_list("message", flat=True))
    assert printed == ["WHO='hello there' CFG={'a': [1, 2], 'b': None}"], agent.describe()


GATE = approval_gate("""
    print(f"APPROVED={answer.approved!r} NOTE={answer.note!r}", flush=True)
""")


def test_a_paused_flow_receives_hydrated_run_input(praetor):
    variable_create(workspace=praetor.workspace, name="reviewer", value="ops team", tags=[])
    with client_paused(praetor, GATE) as (run, outcome):
        status, refused = praetor.api("POST", f"flow_runs/{run['id']}/resume", {"run_input": {
            "approved": True, "note": {"__prefect_kind": "workspace_variable", "variable_name": "nope"}}})
        assert (status, refused["status"], refused["details"]["reason"]) == (
            200, "REJECT", "Error hydrating run input: Variable 'nope' not found in workspace.")
        status, resumed = praetor.api("POST", f"flow_runs/{run['id']}/resume", {"run_input": {
            "approved": {"__prefect_kind": "json", "value": "true"},
            "note": {"__prefect_kind": "workspace_variable", "variable_name": "reviewer"}}})
        assert (status, resumed["status"]) == (201, "ACCEPT"), resumed
    assert "APPROVED=True NOTE='ops team'" in outcome["run"].stdout, outcome["run"].describe()
