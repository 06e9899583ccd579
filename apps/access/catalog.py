"""The permission catalog and the built-in workspace roles, as data, in one place.

Every workspace view declares one of these keys (`resource:action`); every role is a set of them.
Each key also carries its Prefect Cloud scope name (see/manage/run pattern) for the Cloud-shaped
endpoints (`/api/workspace_scopes`, `workspace_roles`). docs/access.md renders this module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    key: str
    cloud_scope: str
    description: str

    @property
    def resource(self) -> str:
        return self.key.split(":", 1)[0]

    @property
    def is_read(self) -> bool:
        return self.key.endswith(":read")


def _crud(resource: str, noun: str) -> tuple[Permission, Permission]:
    return (
        Permission(f"{resource}:read", f"see_{resource}", f"See {noun}."),
        Permission(f"{resource}:write", f"manage_{resource}", f"Create, update and delete {noun}."),
    )


WORKSPACE_PERMISSIONS: tuple[Permission, ...] = (
    Permission("workspace:read", "see_workspace", "See the workspace, its settings and who has access."),
    Permission("workspace:manage", "manage_workspace_settings", "Change or delete the workspace."),
    Permission("workspace:manage_access", "manage_workspace_users",
               "Grant, change and remove workspace roles of users, teams and service accounts."),
    *_crud("flows", "flows"),
    *_crud("flow_runs", "flow runs and their states"),
    Permission("flow_runs:cancel", "cancel_flow_runs", "Cancel flow runs."),
    *_crud("task_runs", "task runs and their states"),
    *_crud("logs", "logs"),
    *_crud("concurrency_limits", "concurrency limits"),
    *_crud("blocks", "blocks (types, schemas and documents), without secret values"),
    Permission("blocks:read_secrets", "see_block_secrets", "Read the unobfuscated secret values of blocks."),
    *_crud("variables", "variables"),
    *_crud("artifacts", "artifacts"),
    *_crud("events", "events and automations"),
    *_crud("deployments", "deployments and their schedules"),
    Permission("deployments:run", "run_deployments", "Create flow runs from deployments."),
    *_crud("work_pools", "work pools and their workers"),
    *_crud("work_queues", "work queues"),
    Permission("work_queues:poll", "run_work_queues",
               "Poll work queues and pools for scheduled runs (agents and workers)."),
)

# Organization-level keys, checked by the account views (/api/accounts/{a}/...).
ORGANIZATION_PERMISSIONS: tuple[Permission, ...] = (
    Permission("organization:read", "see_account", "See the organization, its members, teams and roles."),
    Permission("organization:manage", "manage_account",
               "Invite and remove members, manage teams, service accounts, workspaces and custom roles."),
    Permission("organization:own", "own_account", "Billing, deleting the organization, changing Owners."),
)

PERMISSIONS: dict[str, Permission] = {p.key: p for p in (*WORKSPACE_PERMISSIONS, *ORGANIZATION_PERMISSIONS)}
WORKSPACE_KEYS: frozenset[str] = frozenset(p.key for p in WORKSPACE_PERMISSIONS)
BY_CLOUD_SCOPE: dict[str, Permission] = {p.cloud_scope: p for p in WORKSPACE_PERMISSIONS}
READ_KEYS: frozenset[str] = frozenset(p.key for p in WORKSPACE_PERMISSIONS if p.is_read)


@dataclass(frozen=True)
class BuiltInRole:
    """A role defined in code. `is_template` roles are Runner/Worker: starting points for custom roles,
    grantable directly only where custom roles are (Enterprise)."""

    key: str
    name: str
    description: str
    permissions: frozenset[str]
    is_template: bool = False

    @property
    def id(self) -> uuid.UUID:
        # Stable across installations, so scripts can refer to built-in roles by id as on Cloud.
        return uuid.uuid5(_ROLE_NAMESPACE, self.key)


_ROLE_NAMESPACE = uuid.UUID("6f3f9d8e-2c39-4b8e-9a59-6d1a3c6f1b21")

ADMINISTRATOR = BuiltInRole(
    "administrator", "Administrator",
    "Everything in the workspace, including its settings and who has access.",
    WORKSPACE_KEYS,
)
COLLABORATOR = BuiltInRole(
    "collaborator", "Collaborator",
    "Read and write every orchestration object and run deployments; no access management or settings.",
    WORKSPACE_KEYS - {"workspace:manage", "workspace:manage_access"},
)
READ_ONLY_COLLABORATOR = BuiltInRole(
    "read_only_collaborator", "Read-Only Collaborator",
    "Read everything in the workspace, except secret block values.",
    READ_KEYS,
)
RUNNER = BuiltInRole(
    "runner", "Runner",
    "Template: read everything (no secret values), run deployments and cancel runs.",
    READ_KEYS | {"deployments:run", "flow_runs:cancel"},
    is_template=True,
)
WORKER = BuiltInRole(
    "worker", "Worker",
    "Template: what an agent or worker needs to poll for runs, load their blocks and report states and logs.",
    frozenset({
        "workspace:read", "work_pools:read", "work_queues:read", "work_queues:poll", "deployments:read",
        "flows:read", "flow_runs:read", "flow_runs:write", "task_runs:read", "task_runs:write", "logs:write",
        "blocks:read", "blocks:read_secrets", "variables:read", "artifacts:write", "events:write",
        "concurrency_limits:read", "concurrency_limits:write",
    }),
    is_template=True,
)

SYSTEM_ROLES: tuple[BuiltInRole, ...] = (ADMINISTRATOR, COLLABORATOR, READ_ONLY_COLLABORATOR)
TEMPLATE_ROLES: tuple[BuiltInRole, ...] = (RUNNER, WORKER)
BUILT_IN_ROLES: dict[uuid.UUID, BuiltInRole] = {r.id: r for r in (*SYSTEM_ROLES, *TEMPLATE_ROLES)}
BUILT_IN_BY_KEY: dict[str, BuiltInRole] = {r.key: r for r in (*SYSTEM_ROLES, *TEMPLATE_ROLES)}


def cloud_scopes(keys) -> list[str]:
    """Our keys → Cloud scope names, in catalog order."""
    keys = set(keys)
    return [p.cloud_scope for p in WORKSPACE_PERMISSIONS if p.key in keys]


def keys_from_scopes(names) -> tuple[set[str], list[str]]:
    """Accept Cloud scope names or our keys; return (keys, unknown names)."""
    keys, unknown = set(), []
    for name in names:
        if name in WORKSPACE_KEYS:
            keys.add(name)
        elif name in BY_CLOUD_SCOPE:
            keys.add(BY_CLOUD_SCOPE[name].key)
        else:
            unknown.append(name)
    return keys, unknown


for _role in (*SYSTEM_ROLES, *TEMPLATE_ROLES):
    assert _role.permissions <= WORKSPACE_KEYS, _role.key  # catalog integrity, checked at import
assert len(BY_CLOUD_SCOPE) == len(WORKSPACE_PERMISSIONS)
