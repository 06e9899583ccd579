"""Service accounts (Cloud's "bots") and their pnb_ keys: `/accounts/{a}/bots/…` in Cloud's shape, where
`api_key.key` carries the secret only in the answer that created it."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api.inputs import any_of, body, page, valid
from apps.core.api.views import AccountAPIView
from apps.identity.api.serializers import ApiKeyCreateInput, ApiKeyOutput, api_key_row
from apps.organizations import selectors, services
from apps.organizations.api import serializers as s
from apps.organizations.models import OrganizationRole

READ = "organization:read"
MANAGE = "organization:manage"


class BotsView(AccountAPIView):
    required_permissions = {"GET": READ, "POST": MANAGE}

    @extend_schema(responses=s.BotOutput(many=True), operation_id="bots_list")
    def get(self, request, account_id):
        rows = page(selectors.service_account_list(organization=self.organization), request.query_params)
        return Response([s.bot_row(b) for b in rows])

    @extend_schema(request=s.BotCreateInput, responses={201: s.BotOutput}, operation_id="bots_create",
                   description="Creates the service account and its first pnb_ key; `api_key.key` is the secret, "
                               "shown this once.")
    def post(self, request, account_id):
        data = valid(s.BotCreateInput, body(request))
        role = (s.role_key_from_id(data["account_role_id"]) if "account_role_id" in data
                else OrganizationRole.MEMBER)
        bot, key, secret = services.service_account_create(
            organization=self.organization, name=data["name"], role=role, actor=request.user,
            api_key_expires_at=data["api_key_expiration"],
        )
        return Response(s.bot_row(bot, key=key, secret=secret), status=status.HTTP_201_CREATED)


class BotsFilterView(AccountAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=s.BotFilterInput, responses=s.BotOutput(many=True), operation_id="bots_filter")
    def post(self, request, account_id):
        data = valid(s.BotFilterInput, body(request))
        rows = selectors.service_account_list(organization=self.organization)
        names = any_of(data.get("bots"), "name")
        if names is not None:
            rows = rows.filter(name__in=names)
        return Response([s.bot_row(b) for b in page(rows, data)])


class BotDetailView(AccountAPIView):
    required_permissions = {"GET": READ, "PATCH": MANAGE, "DELETE": MANAGE}

    def _bot(self, bot_id):
        return selectors.service_account_get(organization=self.organization, service_account_id=bot_id)

    @extend_schema(responses=s.BotOutput, operation_id="bots_read")
    def get(self, request, account_id, bot_id):
        return Response(s.bot_row(self._bot(bot_id)))

    @extend_schema(request=s.BotUpdateInput, responses=s.BotOutput, operation_id="bots_update")
    def patch(self, request, account_id, bot_id):
        bot = self._bot(bot_id)
        data = valid(s.BotUpdateInput, body(request))
        role = s.role_key_from_id(data["account_role_id"]) if "account_role_id" in data else None
        services.service_account_update(service_account=bot, actor=request.user, name=data.get("name"), role=role)
        return Response(s.bot_row(self._bot(bot_id)))

    @extend_schema(responses={204: None}, operation_id="bots_delete",
                   description="Deletes the service account; its keys stop working at once.")
    def delete(self, request, account_id, bot_id):
        services.service_account_delete(service_account=self._bot(bot_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotRotateKeyView(AccountAPIView):
    required_permissions = {"POST": MANAGE}

    @extend_schema(request=s.BotRotateKeyInput, responses={201: s.BotOutput}, operation_id="bots_rotate_api_key",
                   description="Issues a new key (its secret in `api_key.key`, shown once) and retires the old "
                               "ones, at once or after `old_key_expires_in_seconds`.")
    def post(self, request, account_id, bot_id):
        bot = selectors.service_account_get(organization=self.organization, service_account_id=bot_id)
        data = valid(s.BotRotateKeyInput, body(request))
        key, secret = services.service_account_rotate_key(
            service_account=bot, actor=request.user, expires_at=data["api_key_expiration"],
            old_key_expires_in_seconds=data["old_key_expires_in_seconds"],
        )
        return Response(s.bot_row(bot, key=key, secret=secret), status=status.HTTP_201_CREATED)


class BotApiKeysView(AccountAPIView):
    """Every key of one service account (revoked and expired included); POST issues one more."""

    required_permissions = {"GET": MANAGE, "POST": MANAGE}

    def _bot(self, bot_id):
        return selectors.service_account_get(organization=self.organization, service_account_id=bot_id)

    @extend_schema(responses=ApiKeyOutput(many=True), operation_id="bot_api_keys_list")
    def get(self, request, account_id, bot_id):
        keys = page(selectors.service_account_key_list(service_account=self._bot(bot_id)), request.query_params)
        return Response([api_key_row(k) for k in keys])

    @extend_schema(request=ApiKeyCreateInput, responses={201: ApiKeyOutput}, operation_id="bot_api_keys_create")
    def post(self, request, account_id, bot_id):
        bot = self._bot(bot_id)
        data = valid(ApiKeyCreateInput, body(request))
        key, secret = services.service_account_key_create(service_account=bot, name=data["name"],
                                                          expires_at=data["expiration"], actor=request.user)
        return Response(api_key_row(key, secret), status=status.HTTP_201_CREATED)


class BotApiKeyDetailView(AccountAPIView):
    required_permissions = {"DELETE": MANAGE}

    @extend_schema(responses={204: None}, operation_id="bot_api_keys_revoke")
    def delete(self, request, account_id, bot_id, key_id):
        bot = selectors.service_account_get(organization=self.organization, service_account_id=bot_id)
        services.service_account_key_revoke(service_account=bot, key_id=key_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
