"""Flow run inputs: keyed values sent to a flow run (Prefect 2.20's FlowRunInput), which a paused flow
waits for (`pause_flow_run(wait_for_input=...)`) and flows exchange with `send_input`/`receive_input`."""

from __future__ import annotations

from django.db import models

from apps.core.models import WorkspaceScopedModel

MAX_KEY_LENGTH = 255


class FlowRunInput(WorkspaceScopedModel):
    """One value under a key of one flow run; a key is written once (a second create is a 409)."""

    flow_run = models.ForeignKey("engine.FlowRun", on_delete=models.CASCADE, related_name="inputs")
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    value = models.TextField()
    sender = models.CharField(max_length=MAX_KEY_LENGTH, null=True)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            # also the index of every read: by run and key, by run and key prefix
            models.UniqueConstraint(fields=["workspace", "flow_run", "key"], name="flow_run_input_unique_key"),
        ]
