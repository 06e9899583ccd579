"""Variables: named string values a workspace's flows read (`prefect.variables.Variable.get`)."""

from __future__ import annotations

from django.db import models

from apps.core.models import WorkspaceScopedModel

MAX_NAME_LENGTH = 255
MAX_VALUE_LENGTH = 5000


class Variable(WorkspaceScopedModel):
    name = models.CharField(max_length=MAX_NAME_LENGTH)
    value = models.CharField(max_length=MAX_VALUE_LENGTH)
    tags = models.JSONField(default=list)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="variable_unique_name")]

