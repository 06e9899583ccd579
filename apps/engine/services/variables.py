"""Writes for variables: names unique per workspace (lowercase letters, digits, underscores)."""

from __future__ import annotations

import re
import uuid

from django.db import IntegrityError, transaction

from apps.core.errors import Conflict, Invalid, NotFound
from apps.engine.models.variables import Variable

_NAME = re.compile(r"^[a-z0-9_]+$")


def _validate_name(name: str) -> None:
    if not _NAME.match(name):
        raise Invalid("Variable name must only contain lowercase letters, numbers, and underscores.",
                      loc=["body", "name"])


def _taken(name: str) -> Conflict:
    return Conflict(f"A variable with the name {name!r} already exists.", code="variable_name_taken")


def variable_create(*, workspace, name: str, value: str, tags: list[str], actor=None) -> Variable:
    """Create a variable; a name already used in the workspace is a 409."""
    _validate_name(name)
    try:
        with transaction.atomic():
            return Variable.objects.for_workspace(workspace).create(workspace=workspace, name=name, value=value,
                                                                     tags=list(tags))
    except IntegrityError:
        raise _taken(name) from None


def variable_update(*, workspace, variable_id: uuid.UUID | None = None, name: str | None = None,
                    changes: dict, actor=None) -> Variable:
    """Update the variable found by id or by name with the given fields (name, value, tags)."""
    scoped = Variable.objects.for_workspace(workspace)
    lookup = {"pk": variable_id} if variable_id is not None else {"name": name}
    if "name" in changes:
        _validate_name(changes["name"])
    try:
        with transaction.atomic():
            variable = scoped.select_for_update().filter(**lookup).first()
            if variable is None:
                raise NotFound("Variable not found.")
            for field, value in changes.items():
                setattr(variable, field, value)
            variable.save(update_fields=[*changes, "updated"])
    except IntegrityError:
        raise _taken(changes.get("name", "")) from None
    return variable


def variable_delete(*, workspace, variable_id: uuid.UUID | None = None, name: str | None = None, actor=None) -> None:
    lookup = {"pk": variable_id} if variable_id is not None else {"name": name}
    deleted, _ = Variable.objects.for_workspace(workspace).filter(**lookup).delete()
    if not deleted:
        raise NotFound("Variable not found.")
