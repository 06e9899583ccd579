"""/api/me and /api/me/workspaces (who the caller is, which workspaces it reaches) and a person's own API
keys under /api/users/{u}/api_keys."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api.inputs import body, page, valid
from apps.core.api.views import AUTHENTICATED, PraetorAPIView
from apps.core.errors import NotFound
from apps.identity.api.serializers import ApiKeyCreateInput, ApiKeyOutput, MeOutput, MeWorkspaceOutput, api_key_row
from apps.identity.models import User
from apps.identity.services import api_key_create, api_key_get_for_owner, api_key_revoke
from apps.workspaces.selectors import workspace_list_for_actor


class MeView(PraetorAPIView):
    required_permissions = {"GET": AUTHENTICATED}

    @extend_schema(responses=MeOutput, operation_id="me_read")
    def get(self, request):
        actor = request.user
        is_user = actor.actor_type == "user"
        return Response(
            MeOutput(
                {
                    "id": actor.pk,
                    "actor_id": actor.pk,
                    "email": actor.email if is_user else None,
                    "handle": actor.handle if is_user else str(actor.pk),
                    "first_name": actor.first_name if is_user else actor.name,
                    "last_name": actor.last_name if is_user else "",
                    "actor_type": actor.actor_type,
                }
            ).data
        )


class MeWorkspacesView(PraetorAPIView):
    """What `prefect cloud login` reads to list the workspaces a key can use."""

    required_permissions = {"GET": AUTHENTICATED}

    @extend_schema(responses=MeWorkspaceOutput(many=True), operation_id="me_workspaces_list")
    def get(self, request):
        rows = [
            {
                "account_id": ws.organization_id,
                "account_name": ws.organization.name,
                "account_handle": ws.organization.handle,
                "workspace_id": ws.pk,
                "workspace_name": ws.name,
                "workspace_description": ws.description,
                "workspace_handle": ws.handle,
            }
            for ws in workspace_list_for_actor(actor=request.user)
        ]
        return Response(MeWorkspaceOutput(rows, many=True).data)


def _own_user(request, user_id) -> User:
    """The URL's user must be the caller (a person): anyone else's keys, or a service account's, are 404."""
    actor = request.user
    if not isinstance(actor, User) or str(actor.pk) != str(user_id):
        raise NotFound("User not found.")
    return actor


class UserApiKeysView(PraetorAPIView):
    """A person's own pnu_ keys (Cloud's `/users/{u}/api_keys`): list (revoked and expired included) and create."""

    required_permissions = {"GET": AUTHENTICATED, "POST": AUTHENTICATED}

    @extend_schema(responses=ApiKeyOutput(many=True), operation_id="user_api_keys_list")
    def get(self, request, user_id):
        keys = page(_own_user(request, user_id).api_keys.order_by("-created"), request.query_params)
        return Response([api_key_row(k) for k in keys])

    @extend_schema(request=ApiKeyCreateInput, responses={201: ApiKeyOutput}, operation_id="user_api_keys_create",
                   description="`key` is the secret, shown in this answer only; Praetor keeps a hash.")
    def post(self, request, user_id):
        user = _own_user(request, user_id)
        data = valid(ApiKeyCreateInput, body(request))
        key, secret = api_key_create(owner=user, name=data["name"], expires_at=data["expiration"])
        return Response(api_key_row(key, secret), status=status.HTTP_201_CREATED)


class UserApiKeyDetailView(PraetorAPIView):
    required_permissions = {"GET": AUTHENTICATED, "DELETE": AUTHENTICATED}

    @extend_schema(responses=ApiKeyOutput, operation_id="user_api_keys_read")
    def get(self, request, user_id, key_id):
        key = api_key_get_for_owner(owner=_own_user(request, user_id), key_id=_key_uuid(key_id))
        return Response(api_key_row(key))

    @extend_schema(responses={204: None}, operation_id="user_api_keys_revoke",
                   description="The key answers 401 from the next request on.")
    def delete(self, request, user_id, key_id):
        key = api_key_get_for_owner(owner=_own_user(request, user_id), key_id=_key_uuid(key_id))
        api_key_revoke(key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _key_uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound("API key not found.") from None
