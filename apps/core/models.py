"""Base models and the fail-closed tenant managers every organization- or workspace-owned model uses."""

from __future__ import annotations

import uuid

from django.db import models


class IsNotDistinctFrom(models.Lookup):
    """`lhs IS NOT DISTINCT FROM rhs`: the rows Django's `exact` matches (None: IS NULL), as a condition no
    index serves (PostgreSQL 15 does not index IS NOT DISTINCT FROM). Used as an expression in `filter()`, its
    right-hand side an expression typed as the column (a plain value would not be converted by the column's
    field: a UUID given as a string would not match on SQLite)."""

    lookup_name = "not_distinct"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} IS NOT DISTINCT FROM {rhs}", (*lhs_params, *rhs_params)

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} IS {rhs}", (*lhs_params, *rhs_params)


class UnscopedQueryError(RuntimeError):
    """Raised when tenant data is queried without naming its tenant."""


class TimeStampedModel(models.Model):
    """UUID primary key plus `created`/`updated` in UTC, as Prefect's and Cloud's objects have."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class _ScopedManager(models.Manager):
    """A manager whose plain querysets raise: reads go through `for_<scope>(obj_or_id)`.

    `scope_field` names the tenant foreign key. Django's internals use the model's
    `all_…` manager (Meta.default_manager_name), so relations and deletes keep working.
    """

    scope_field = ""

    def get_queryset(self):
        raise UnscopedQueryError(
            f"{self.model.__name__} is tenant data: use .for_{self.scope_field}(...) "
            f"or the explicitly named all_{self.scope_field}s manager."
        )

    def _scoped(self, tenant) -> models.QuerySet:
        tenant_id = getattr(tenant, "pk", tenant)
        return super().get_queryset().filter(**{f"{self.scope_field}_id": tenant_id})


class WorkspaceScopedManager(_ScopedManager):
    scope_field = "workspace"

    def for_workspace(self, workspace) -> models.QuerySet:
        return self._scoped(workspace)

    def by_pk_for_workspace(self, workspace, pk) -> models.QuerySet:
        """The row `pk` if `workspace` owns it (the rows of `for_workspace(workspace).filter(pk=pk)`), found by
        its primary key in every plan: the tenancy condition is written IS NOT DISTINCT FROM (the same rows
        as `=`, the column being NOT NULL), which no index serves. For the by-id statements prepared on the
        server (apps/core/prepared.py): without statistics PostgreSQL's generic plan of `workspace_id = $1
        AND id = $2` may take an index on workspace_id and read the whole workspace (docs/performance.md,
        "generic plans of the by-id statements")."""
        return self.for_workspace_unindexed(workspace).filter(pk=pk)

    def for_workspace_unindexed(self, workspace) -> models.QuerySet:
        """The rows of `for_workspace(workspace)`, the tenancy condition written IS NOT DISTINCT FROM so that no
        index serves it: for statements whose other conditions name the index to take (the primary key, a
        foreign key) in a generic plan too, as `by_pk_for_workspace` and the flow run filter pages do."""
        workspace_id = getattr(workspace, "pk", workspace)
        return (super(_ScopedManager, self).get_queryset()
                .filter(IsNotDistinctFrom(models.F("workspace_id"), models.Value(workspace_id, models.UUIDField()))))


class OrganizationScopedManager(_ScopedManager):
    scope_field = "organization"

    def for_organization(self, organization) -> models.QuerySet:
        return self._scoped(organization)


class WorkspaceScopedModel(TimeStampedModel):
    """Owned by one workspace. `objects.for_workspace(ws)` to read; `all_workspaces` for sweeps."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")

    objects = WorkspaceScopedManager()
    all_workspaces = models.Manager()

    class Meta:
        abstract = True
        default_manager_name = "all_workspaces"
        base_manager_name = "all_workspaces"


class OrganizationScopedModel(TimeStampedModel):
    """Owned by one organization. `objects.for_organization(org)`; `all_organizations` for sweeps."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+"
    )

    objects = OrganizationScopedManager()
    all_organizations = models.Manager()

    class Meta:
        abstract = True
        default_manager_name = "all_organizations"
        base_manager_name = "all_organizations"
