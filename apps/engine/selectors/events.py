"""Reads for events: Prefect's EventFilter over one workspace's events, newest first by default."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.engine.models.events import Event


def _any(parts: list[Q]) -> Q:
    out = Q(pk__in=[])
    for part in parts:
        out |= part
    return out


def _labels_q(labels: dict, field: str) -> Q:
    """ResourceSpecification: label → value or list of values; a trailing `*` matches a prefix."""
    q = Q()
    for label, values in (labels or {}).items():
        values = values if isinstance(values, list) else [values]
        parts = []
        for value in values:
            if isinstance(value, str) and value.endswith("*"):
                parts.append(Q(**{f"{field}__{label}__startswith": value[:-1]}))
            else:
                parts.append(Q(**{f"{field}__{label}": value}))
        q &= _any(parts)
    return q


def _related_q(related: dict) -> Q:
    q = Q()
    if related.get("id"):
        q &= _any([Q(related__has_element={"prefect.resource.id": rid}) for rid in related["id"]])
    if related.get("role"):
        q &= _any([Q(related__has_element={"prefect.resource.role": role}) for role in related["role"]])
    for rid, role in related.get("resources_in_roles") or []:
        q &= Q(related__has_element={"prefect.resource.id": rid, "prefect.resource.role": role})
    for label, values in (related.get("labels") or {}).items():
        values = values if isinstance(values, list) else [values]
        q &= _any([Q(related__has_element={label: v}) for v in values])
    return q


def event_list(*, workspace, event_filter: dict) -> QuerySet[Event]:
    """Events matching the filter. As Prefect's filter does, `occurred` defaults to the last day."""
    f = event_filter or {}
    now = timezone.now()
    occurred = f.get("occurred") or {}
    q = Q(occurred__gte=occurred.get("since") or now - timedelta(days=1), occurred__lte=occurred.get("until") or now)
    if name := f.get("event"):
        if name.get("prefix"):
            q &= _any([Q(event__startswith=p) for p in name["prefix"]])
        for p in name.get("exclude_prefix") or []:
            q &= ~Q(event__startswith=p)
        if name.get("name"):
            q &= Q(event__in=name["name"])
        if name.get("exclude_name"):
            q &= ~Q(event__in=name["exclude_name"])
    if resource := f.get("resource"):
        if resource.get("id"):
            q &= Q(resource_id__in=resource["id"])
        if resource.get("id_prefix"):
            q &= _any([Q(resource_id__startswith=p) for p in resource["id_prefix"]])
        q &= _labels_q(resource.get("labels"), "resource")
    if related := f.get("related"):
        q &= _related_q(related)
    if any_resource := f.get("any_resource"):
        if any_resource.get("id"):
            q &= _any([Q(resource_id=rid) | Q(related__has_element={"prefect.resource.id": rid})
                       for rid in any_resource["id"]])
        if any_resource.get("id_prefix"):
            q &= _any([Q(resource_id__startswith=p) for p in any_resource["id_prefix"]])
    if ids := (f.get("id") or {}).get("id"):
        q &= Q(event_id__in=ids)
    order = "occurred" if f.get("order") == "ASC" else "-occurred"
    return Event.objects.for_workspace(workspace).filter(q).order_by(order, "event_id")
