"""The organization's audit trail in the browser: newest first, filtered, cursor-paged (Owners and Admins;
listed for tiers that include the trail, otherwise an upgrade prompt)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.shortcuts import render

from apps.audit.actions import ACTIONS
from apps.audit.selectors import audit_event_list, audit_trail_require_tier
from apps.core.errors import DomainError, LimitExceeded
from apps.web.pages import OrganizationPageView
from apps.workspaces.selectors import workspace_list

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    event = forms.ChoiceField(label="Event", required=False,
                              choices=[("", "All events"), *[(a, a) for a in ACTIONS]])
    since = forms.DateField(label="From (UTC)", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To (UTC, inclusive)", required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)


class AuditTrailView(OrganizationPageView):
    required_permissions = {"GET": "organization:manage"}

    def get(self, request, org):
        organization = request.organization
        context = {"organization": organization, "form": AuditFilterForm(request.GET or None), "events": [],
                   "next_url": None, "upgrade": None, "error": None}
        try:
            audit_trail_require_tier(organization)
        except LimitExceeded as error:
            context["upgrade"] = error
            return render(request, "web/access/audit.html", context)
        form = context["form"]
        data = form.cleaned_data if form.is_valid() else {}
        if form.is_bound and not form.is_valid():
            return render(request, "web/access/audit.html", context, status=400)
        since = datetime.combine(data["since"], time.min, tzinfo=UTC) if data.get("since") else None
        until = datetime.combine(data["until"], time.min, tzinfo=UTC) + timedelta(days=1) if data.get("until") else None
        try:
            page = audit_event_list(organization_id=organization.pk, limit=PAGE_SIZE,
                                    cursor=data.get("cursor") or None, action=data.get("event") or None,
                                    since=since, until=until)
        except DomainError as error:
            context["error"] = error.detail
            return render(request, "web/access/audit.html", context, status=400)
        names = dict(workspace_list(organization=organization).values_list("pk", "handle"))
        context["events"] = [{"event": e, "workspace": names.get(e.workspace_id, "")} for e in page.events]
        if page.next_cursor:
            params = {k: v for k, v in request.GET.items() if k != "cursor" and v}
            context["next_url"] = f"?{urlencode({**params, 'cursor': page.next_cursor})}"
        return render(request, "web/access/audit.html", context)
