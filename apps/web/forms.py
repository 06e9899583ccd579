"""Forms of the browser pages: shape and first checks only; the services make the decisions and their
domain errors are put back on the form by `form_error_from`."""

from __future__ import annotations

from django import forms

from apps.core.errors import DomainError, Invalid
from apps.core.validators import HANDLE_RULE, handle_from
from apps.web.routing import RESERVED

HANDLE_HELP = f"Used in URLs and in <code>prefect cloud login --workspace</code>: {HANDLE_RULE}."


def form_error_from(form: forms.Form, error: DomainError, *, fields: dict[str, str]) -> None:
    """Attach a service's domain error to the form field it is about, else to the whole form.

    `fields` maps the service's field names (the last element of `Invalid.loc`, or a Conflict's code)
    to this form's field names.
    """
    target = None
    if isinstance(error, Invalid) and error.loc:
        target = fields.get(str(error.loc[-1]))
    if target is None:
        target = fields.get(error.code)
    form.add_error(target if target in form.fields else None, error.detail)


class OnboardingForm(forms.Form):
    organization_name = forms.CharField(label="Organization name", max_length=100,
                                        help_text="Your company or team, as members will see it.")
    organization_handle = forms.CharField(
        label="Organization handle", max_length=64, required=False,
        help_text=HANDLE_HELP + " Leave it empty to derive it from the name.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    workspace_name = forms.CharField(
        label="Workspace name", max_length=100, initial="Production",
        help_text="A workspace holds flows, runs and deployments, e.g. one per environment.",
    )
    workspace_handle = forms.CharField(
        label="Workspace handle", max_length=64, required=False,
        help_text=HANDLE_HELP + " Leave it empty to derive it from the name.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )

    def clean(self):
        data = super().clean()
        if "organization_name" in data and not data.get("organization_handle"):
            data["organization_handle"] = handle_from(data["organization_name"], fallback="org")
        if "workspace_name" in data and not data.get("workspace_handle"):
            data["workspace_handle"] = handle_from(data["workspace_name"], fallback="default")
        handle = data.get("organization_handle")
        if handle and handle in RESERVED:
            self.add_error("organization_handle",
                           f"{handle!r} is reserved by Praetor's own pages: choose another handle.")
        return data


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    handle = forms.CharField(
        label="Handle", max_length=64, required=False,
        help_text=HANDLE_HELP + " Leave it empty to derive it from the name.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    description = forms.CharField(label="Description", max_length=1000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self):
        data = super().clean()
        if "name" in data and not data.get("handle"):
            data["handle"] = handle_from(data["name"], fallback="default")
        return data


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(label="Name", max_length=255,
                           help_text="What the key is for, e.g. “laptop” or “CI”.")
    expires_on = forms.DateField(
        label="Expires on", required=False,
        help_text="The key stops working at the start of this day (UTC). Leave empty for a key that does not expire.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


ROLE_CHOICES = [("member", "Member"), ("admin", "Admin"), ("owner", "Owner")]
ROLE_HELP = ("Owners and Admins manage members, teams, service accounts and workspaces, and are Administrator of "
             "every workspace; Members have only what workspace grants give them. Only Owners make Owners.")


class InvitationCreateForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254,
                             help_text="We send the invitation link to this address; it is valid for 7 days.")
    role = forms.ChoiceField(label="Organization role", choices=ROLE_CHOICES, initial="member", help_text=ROLE_HELP)


class TeamForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100)
    description = forms.CharField(label="Description", max_length=1000, required=False,
                                  widget=forms.Textarea(attrs={"rows": 3}))


class ServiceAccountForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="What it is for, e.g. “ci” or “prod-worker”.")
    role = forms.ChoiceField(label="Organization role", choices=ROLE_CHOICES, initial="member", help_text=ROLE_HELP)


class ServiceAccountCreateForm(ServiceAccountForm):
    expires_on = forms.DateField(
        label="Key expires on", required=False,
        help_text="Its first API key stops working at the start of this day (UTC). Leave empty for no expiry.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
