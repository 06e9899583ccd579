"""`collections/work_pool_types`: the worker metadata a client in Cloud mode reads (prefect/client/cloud.py)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.engine.selectors.collections import work_pool_types


class WorkPoolTypesView(WorkspaceAPIView):
    required_permissions = {"GET": "work_pools:read"}

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="collections_work_pool_types")
    def get(self, request, **kwargs):
        return Response(work_pool_types())


urlpatterns = [
    path("collections/work_pool_types", WorkPoolTypesView.as_view(), name="collections-work-pool-types"),
]
