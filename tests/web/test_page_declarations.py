"""Every browser page declares its permissions; the base classes refuse views that do not."""

import pytest
from django.urls import get_resolver

from apps.web.pages import OrganizationPageView, PageView


def _web_views():
    for pattern in get_resolver().url_patterns:
        for sub in getattr(pattern, "url_patterns", []):
            view = getattr(sub.callback, "view_class", None)
            if view is not None and view.__module__.startswith("apps.web."):
                yield view


def test_every_web_route_is_a_page_view_with_declared_permissions():
    views = list(_web_views())
    assert len(views) >= 6
    for view in views:
        assert issubclass(view, PageView), view
        assert isinstance(view.required_permissions, dict) and view.required_permissions, view


def test_a_page_without_declarations_is_refused_at_import():
    with pytest.raises(TypeError, match="must declare required_permissions"):
        type("Undeclared", (OrganizationPageView,), {"get": lambda self, request: None})


def test_a_page_may_not_override_tenant_resolution():
    with pytest.raises(TypeError, match="may not override resolve_tenant"):
        type("Sneaky", (OrganizationPageView,), {"required_permissions": {"GET": "member"},
                                                  "get": lambda self, request: None,
                                                  "resolve_tenant": lambda self, request, kwargs: None})
