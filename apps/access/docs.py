"""Renders the permission catalog and built-in roles as Markdown for docs/access.md.

The document's generated part sits between two markers; `manage.py access_docs --write` refreshes it and
a test fails when it drifts from apps/access/catalog.py.
"""

from __future__ import annotations

from apps.access import catalog

BEGIN = "<!-- BEGIN GENERATED: manage.py access_docs --write -->"
END = "<!-- END GENERATED -->"


def _mark(role: catalog.BuiltInRole, key: str) -> str:
    return "✓" if key in role.permissions else ""


def render_catalog() -> str:
    roles = (*catalog.SYSTEM_ROLES, *catalog.TEMPLATE_ROLES)
    lines = [
        "### Workspace permissions and built-in roles",
        "",
        "| permission | Cloud scope | meaning | " + " | ".join(r.name for r in roles) + " |",
        "|---|---|---|" + "---|" * len(roles),
    ]
    for p in catalog.WORKSPACE_PERMISSIONS:
        marks = " | ".join(_mark(r, p.key) for r in roles)
        lines.append(f"| `{p.key}` | `{p.cloud_scope}` | {p.description} | {marks} |")
    lines += ["", "### Roles", "", "| role | id | kind | description |", "|---|---|---|---|"]
    for r in roles:
        kind = "template (custom roles tier)" if r.is_template else "system"
        lines.append(f"| {r.name} | `{r.id}` | {kind} | {r.description} |")
    lines += ["", "### Organization permissions", "", "| permission | Cloud scope | meaning |", "|---|---|---|"]
    for p in catalog.ORGANIZATION_PERMISSIONS:
        lines.append(f"| `{p.key}` | `{p.cloud_scope}` | {p.description} |")
    return "\n".join(lines)


def with_generated_section(document: str) -> str:
    """`document` with the text between the markers replaced by the current rendering."""
    head, rest = document.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render_catalog()}\n{END}{tail}"
