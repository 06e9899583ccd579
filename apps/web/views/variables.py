"""Variables in the browser: list (paged), create, edit and delete through the variables services."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from apps.core.errors import DomainError
from apps.engine.models.variables import MAX_NAME_LENGTH, MAX_VALUE_LENGTH
from apps.engine.selectors.variables import variable_get, variable_list
from apps.engine.services.variables import variable_create, variable_delete, variable_update
from apps.web.pages import WorkspacePageView

READ, WRITE = "variables:read", "variables:write"
PAGE_SIZE = 50


class VariableForm(forms.Form):
    name = forms.CharField(label="Name", max_length=MAX_NAME_LENGTH,
                           help_text="Lowercase letters, digits and underscores; flows read it with "
                                     "Variable.get(\"name\").")
    value = forms.CharField(label="Value", max_length=MAX_VALUE_LENGTH, strip=False,
                            widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.CharField(label="Tags", required=False, max_length=500, help_text="Separated by spaces or commas.")

    def clean_tags(self):
        return [t for t in self.cleaned_data["tags"].replace(",", " ").split() if t]


def _error_into(form: forms.Form, error: DomainError) -> None:
    field = error.loc[-1] if getattr(error, "loc", None) and error.loc[-1] in form.fields else None
    if field is None and error.code == "variable_name_taken":
        field = "name"
    form.add_error(field, error.detail)


def _list(request, form=None, status=200):
    workspace = request.workspace
    try:
        page = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        page = 1
    rows = list(variable_list(workspace=workspace, variables=None)[(page - 1) * PAGE_SIZE:page * PAGE_SIZE + 1])
    can_write = request.access.has(WRITE)
    return render(request, "web/variables/list.html", {
        "organization": request.organization, "workspace": workspace, "variables": rows[:PAGE_SIZE],
        "page": page, "has_next": len(rows) > PAGE_SIZE, "can_write": can_write,
        "form": form or (VariableForm() if can_write else None),
    }, status=status)


class VariableListView(WorkspacePageView):
    required_permissions = {"GET": READ, "POST": WRITE}

    def get(self, request, org, ws):
        return _list(request)

    def post(self, request, org, ws):
        form = VariableForm(request.POST)
        if not form.is_valid():
            return _list(request, form, status=400)
        try:
            variable = variable_create(workspace=request.workspace, actor=request.user, **form.cleaned_data)
        except DomainError as error:
            _error_into(form, error)
            return _list(request, form, status=error.status_code)
        messages.success(request, f"Variable {variable.name} created.")
        return redirect("web:variables", org=org, ws=ws)


class VariableEditView(WorkspacePageView):
    required_permissions = {"GET": WRITE, "POST": WRITE}

    def _variable(self, request, variable_id):
        variable = variable_get(workspace=request.workspace, variable_id=variable_id)
        if variable is None:
            raise Http404
        return variable

    def _render(self, request, variable, form, status=200):
        return render(request, "web/variables/edit.html", {
            "organization": request.organization, "workspace": request.workspace, "variable": variable,
            "form": form}, status=status)

    def get(self, request, org, ws, variable_id):
        variable = self._variable(request, variable_id)
        form = VariableForm(initial={"name": variable.name, "value": variable.value, "tags": " ".join(variable.tags)})
        return self._render(request, variable, form)

    def post(self, request, org, ws, variable_id):
        variable = self._variable(request, variable_id)
        form = VariableForm(request.POST)
        if not form.is_valid():
            return self._render(request, variable, form, status=400)
        try:
            variable_update(workspace=request.workspace, variable_id=variable.pk, changes=form.cleaned_data,
                            actor=request.user)
        except DomainError as error:
            _error_into(form, error)
            return self._render(request, variable, form, status=error.status_code)
        messages.success(request, f"Variable {form.cleaned_data['name']} saved.")
        return redirect("web:variables", org=org, ws=ws)


class VariableDeleteView(WorkspacePageView):
    required_permissions = {"POST": WRITE}

    def post(self, request, org, ws, variable_id):
        try:
            variable_delete(workspace=request.workspace, variable_id=variable_id, actor=request.user)
        except DomainError:
            raise Http404 from None
        messages.success(request, "Variable deleted.")
        return redirect("web:variables", org=org, ws=ws)
