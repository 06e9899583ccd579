"""A value PostgreSQL refuses (SQLSTATE class 22) is the client's bad input: 422 in the API's error shape, nothing
stored. The case that reaches it: a number past JSON's range (`1e400`, parsed as infinity) in a flow run's free-form
parameters, which jsonb refuses; before, a 500."""

from __future__ import annotations

import pytest

from apps.core.api.errors import DATA_REFUSED
from apps.engine.models.runs import FlowRun
from tests.engine.runs_helpers import base, create_flow

# autocommit, as served: the refused statement aborts no outer transaction
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "drf"])
@pytest.mark.parametrize("parameters", ['{"x": 1e400}', '{"x": [1, -1e400]}', '{"x": {"y": {"z": 1e999}}}'])
def test_a_flow_run_whose_parameters_hold_an_infinite_number_is_422_and_stores_nothing(
        authed_client, workspace, settings, lean, parameters):
    settings.PRAETOR_LEAN_VIEWS = lean
    flow = create_flow(authed_client, workspace)
    state = '{"type": "PENDING", "name": "Pending"}'
    body = f'{{"state": {state}, "flow_id": "{flow["id"]}", "parameters": {parameters}}}'
    response = authed_client.post(base(workspace) + "flow_runs/", body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response.json() == {"exception_message": "Invalid request received.", "request_body": None,
                               "exception_detail": [{"loc": ["body"], "msg": DATA_REFUSED, "type": "value_error.data"}]}
    assert not FlowRun.objects.for_workspace(workspace).exists()
    # the connection is usable afterwards: the same body with a finite number is created
    ok = authed_client.post(base(workspace) + "flow_runs/", body.replace("1e400", "1e300").replace("1e999", "2.5"),
                            content_type="application/json")
    assert ok.status_code == 201, ok.content
    assert FlowRun.objects.for_workspace(workspace).count() == 1
