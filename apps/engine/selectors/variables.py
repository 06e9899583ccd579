"""Reads for variables: by id, by name, and Prefect's VariableFilter with sorting."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from apps.engine.models.variables import Variable

SORTS = {"CREATED_DESC": ("-created",), "UPDATED_DESC": ("-updated",), "NAME_DESC": ("-name",),
         "NAME_ASC": ("name",)}


def variable_get(*, workspace, variable_id: uuid.UUID) -> Variable | None:
    return Variable.objects.for_workspace(workspace).filter(pk=variable_id).first()


def variable_get_by_name(*, workspace, name: str) -> Variable | None:
    return Variable.objects.for_workspace(workspace).filter(name=name).first()


def variable_list(*, workspace, variables: dict | None, sort: str = "NAME_ASC") -> QuerySet[Variable]:
    f = variables or {}
    parts = []
    if (x := f.get("id")) and x.get("any_") is not None:
        parts.append(Q(id__in=x["any_"]))
    for field in ("name", "value"):
        if x := f.get(field):
            if x.get("any_") is not None:
                parts.append(Q(**{f"{field}__in": x["any_"]}))
            if x.get("like_") is not None:
                parts.append(Q(**{f"{field}__icontains": x["like_"]}))
    if x := f.get("tags"):
        if x.get("all_"):
            parts.append(Q(tags__contains_all=list(x["all_"])))
        if x.get("is_null_") is not None:
            parts.append(Q(tags=[]) if x["is_null_"] else ~Q(tags=[]))
    q = Q()
    for part in parts:
        q = (q | part) if (f.get("operator") == "or_" and q) else (q & part)
    return Variable.objects.for_workspace(workspace).filter(q).order_by(*SORTS[sort], "id")


def variable_values_by_names(*, workspace, names) -> dict[str, str]:
    """The values of the workspace's variables among `names`, by name, in one query (absent names are
    left out; another workspace's variables are never seen)."""
    return dict(Variable.objects.for_workspace(workspace).filter(name__in=list(names)).values_list("name", "value"))
