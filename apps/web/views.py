"""Browser pages. Owns no models: calls the same services and selectors as the API."""

from django.shortcuts import redirect, render

from apps.workspaces.selectors import workspace_list_for_actor


def home(request):
    if not request.user.is_authenticated:
        return redirect("account_login")
    workspaces = workspace_list_for_actor(actor=request.user)
    return render(request, "web/home.html", {"workspaces": workspaces})
