"""Every page of a read-only workspace (over the tier's workspace limit), rendered with the test client for
its Owner, and every page of a workspace for a member over the seat limit: no link and no form on them leads to
something that would answer 402 (decided from each target page's declaration, as `PageView.dispatch` does).
What cannot be done is either not offered or shown disabled with the reason (docs/ui.md, "A read-only
workspace")."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.urls import Resolver404, resolve

from apps.billing.services import READ_ONLY_STILL_ALLOWED, organization_limits_apply
from apps.web.pages import ANYONE, MEMBER, SIGNED_IN, WorkspacePageView
from apps.workspaces.models import Workspace
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory
from tests.web.seed import seed_workspace

pytestmark = pytest.mark.django_db

class _Targets(HTMLParser):
    """Where a page can send the browser: link targets, and form actions with their method (a form whose
    every submit button is disabled sends nothing, so it is not counted)."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href") and "aria-disabled" not in attrs:
            self.links.append(attrs["href"])
        for attr in ("hx-get", "hx-post"):
            if attrs.get(attr):
                (self.links if attr == "hx-get" else self.forms).append(
                    attrs[attr] if attr == "hx-get" else {"action": attrs[attr], "method": "POST", "live": True})
        if tag == "form":
            self._form = {"action": attrs.get("action") or "", "method": (attrs.get("method") or "GET").upper(),
                          "live": False, "any_button": False}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("button", "input"):
            kind = attrs.get("type", "submit" if tag == "button" else "text")
            if kind in ("submit", "image"):
                self._form["any_button"] = True
                if "disabled" not in attrs:
                    self._form["live"] = True
                if attrs.get("formaction"):
                    self.forms.append({"action": attrs["formaction"], "method": self._form["method"],
                                       "live": "disabled" not in attrs})

    def handle_endtag(self, tag):
        if tag == "form" and self._form is not None:
            if not self._form["any_button"]:
                self._form["live"] = True  # submitted with Enter
            self._form = None


def would_be_refused(path: str, method: str) -> str | None:
    """The permission a read-only workspace refuses for `method` on `path` (402), or None. Decided from the
    view's declaration, as `PageView.dispatch` decides."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    view = getattr(match.func, "view_class", None)
    if view is None or not issubclass(view, WorkspacePageView):
        return None
    needed = (view.required_permissions or {}).get(method)
    assert needed is not None, f"{method} {path}: the page does not serve {method} (405)"
    if needed in (ANYONE, SIGNED_IN, MEMBER) or method in view.allowed_when_read_only:
        return None
    return None if needed in READ_ONLY_STILL_ALLOWED else needed


@pytest.fixture
def seeded_free_organization(db):
    """An organization on Free (one workspace, three seats) with an older empty workspace and a newer seeded
    one (so read-only), and its Owner."""
    organization = OrganizationFactory()
    WorkspaceFactory(organization=organization, handle="older")
    workspace = WorkspaceFactory(organization=organization, handle="newer")
    seeded = seed_workspace(workspace)
    owner = UserFactory()
    membership(organization, owner, "owner")
    return organization, workspace, seeded, owner


def _crawl(client, root: str) -> tuple[dict[str, int], list[str]]:
    """Visit every page reachable from `root` by links inside it; return the status of each and what any
    page offered that a read-only workspace would refuse."""
    to_visit, visited, refused = [root], {}, []
    while to_visit:
        url = to_visit.pop(0)
        if url in visited:
            continue
        response = client.get(url)
        visited[url] = response.status_code
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        parser = _Targets()
        parser.feed(response.content.decode())
        for href in parser.links:
            parts = urlsplit(urljoin(url, href))
            if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
                continue
            if (needed := would_be_refused(parts.path, "GET")) is not None:
                refused.append(f"{url}: link to {parts.path} (needs {needed})")
            if parts.path.startswith(root) and len(visited) + len(to_visit) < 400:
                to_visit.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        for form in parser.forms:
            if form["live"] and (needed := would_be_refused(urlsplit(urljoin(url, form["action"])).path,
                                                            form["method"])) is not None:
                refused.append(f"{url}: {form['method']} form to {form['action']} (needs {needed})")
    return visited, refused


def test_no_page_of_a_read_only_workspace_leads_to_a_402(client, seeded_free_organization):
    organization, workspace, seeded, owner = seeded_free_organization
    organization_limits_apply(organization=organization)
    assert Workspace.objects.for_organization(organization).get(pk=workspace.pk).read_only
    client.force_login(owner)
    root = f"/{organization.handle}/{workspace.handle}/"
    visited, refused = _crawl(client, root)
    assert refused == []
    assert {url: status for url, status in visited.items() if status != 200} == {}
    # Every kind of page was reached (lists and details of runs, flows, deployments, pools, blocks, variables,
    # artifacts; a run's logs; the Access page).
    reached = {url.removeprefix(root).split("/")[0] for url in visited}
    assert reached >= {"", "runs", "flows", "deployments", "work-pools", "concurrency", "blocks", "variables",
                       "artifacts", "access"}
    assert len(visited) >= 30
    # What the Owner could do in a writable workspace is shown disabled, with the reason.
    reason = "Not available: this workspace is read-only (over the workspace limit)."
    for page, label in ((f"deployments/{seeded.deployment.pk}/", "Run…"), ("blocks/", "Add a block"),
                        (f"blocks/{seeded.secret.pk}/", "Edit"), ("variables/", "Add variable")):
        html = client.get(root + page).content.decode()
        assert 'disabled aria-describedby="' in html and f">{label}</button>" in html and reason in html, page
    # Still offered: cancelling a run (it stops work, never starts any).
    assert "Cancel run" in client.get(root + f"runs/{seeded.running.pk}/").content.decode()


def test_no_page_leads_a_member_over_the_seat_limit_to_a_402(client, seeded_free_organization):
    organization, workspace, seeded, owner = seeded_free_organization
    people = [UserFactory() for _ in range(3)]
    for person in people:
        membership(organization, person, "member")
    organization_limits_apply(organization=organization)  # 3 seats: the Owner and the first two members
    older = Workspace.objects.for_organization(organization).get(handle="older")
    assert not older.read_only
    seed_workspace(older)
    client.force_login(people[-1])
    root = f"/{organization.handle}/{older.handle}/"
    visited, refused = _crawl(client, root)
    assert refused == []
    assert {url: status for url, status in visited.items() if status != 200} == {}
    html = client.get(root + "variables/").content.decode()
    assert "Not available: your membership is read-only (over the seat limit)." in html
