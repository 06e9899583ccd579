"""Blocks in the browser: saved documents by type, a document's fields with secret values masked (shown
only to holders of blocks:read_secrets, on request, and audited), and create/edit forms generated from
the block type's schema. The block services validate and store (secrets encrypted)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from apps.core.errors import DomainError, Invalid
from apps.engine.selectors import blocks as block_selectors
from apps.engine.selectors import ui
from apps.engine.services import blocks as block_services
from apps.web.pages import WorkspacePageView
from apps.web.schema_forms import (
    build_schema_form,
    form_error_at,
    is_secret,
    schema_form_values,
    schema_properties,
)

READ, WRITE, READ_SECRETS = "blocks:read", "blocks:write", "blocks:read_secrets"


def _references(request, schema, document=None) -> dict:
    """Fields holding another block: name → (documents it may hold, the id it holds now)."""
    current = ({r.name: r.reference_block_document_id for r in document.references.all()}
               if document is not None and schema.fields.get("block_schema_references") else {})
    choices = ui.block_reference_choices(workspace=request.workspace, schema_fields=schema.fields, current=current)
    return {name: (documents, current.get(name)) for name, documents in choices.items()}


def _document_or_404(request, block_id):
    document = block_selectors.block_document_get(workspace=request.workspace, block_document_id=block_id)
    if document is None or document.is_anonymous:
        raise Http404
    return document


class BlockListView(WorkspacePageView):
    required_permissions = {"GET": READ}

    def get(self, request, org, ws):
        documents = list(block_selectors.block_document_list(workspace=request.workspace,
                                                             sort="BLOCK_TYPE_AND_NAME_ASC")[:500])
        return render(request, "web/blocks/list.html", {
            "organization": request.organization, "workspace": request.workspace, "documents": documents,
            "can_write": request.access.has(WRITE),
        })


class BlockCatalogView(WorkspacePageView):
    required_permissions = {"GET": WRITE}

    def get(self, request, org, ws):
        return render(request, "web/blocks/catalog.html", {
            "organization": request.organization, "workspace": request.workspace,
            "block_types": ui.block_type_list_with_schema(workspace=request.workspace),
        })


def _located(form, error: DomainError) -> DomainError | None:
    """A schema error located in the block's data goes on its field (the page then says "correct the errors
    below"); anything else is shown above the form."""
    loc = getattr(error, "loc", None) or []
    if isinstance(error, Invalid) and loc[:2] == ["body", "data"]:
        form_error_at(form, loc[2:], error.detail)
        return None
    return error


def _form_page(request, *, block_type, form, document=None, error=None, status=200):
    return render(request, "web/blocks/form.html", {
        "organization": request.organization, "workspace": request.workspace, "block_type": block_type,
        "form": form, "document": document, "error": error,
    }, status=status)


class BlockCreateView(WorkspacePageView):
    required_permissions = {"GET": WRITE, "POST": WRITE}

    def _type(self, request, slug):
        block_type = ui.block_type_with_schema_get(workspace=request.workspace, slug=slug)
        if block_type is None:
            raise Http404
        return block_type

    def get(self, request, org, ws, slug):
        block_type = self._type(request, slug)
        schema = block_type.latest_schema
        form = build_schema_form(schema.fields, references=_references(request, schema))
        return _form_page(request, block_type=block_type, form=form)

    def post(self, request, org, ws, slug):
        block_type = self._type(request, slug)
        schema = block_type.latest_schema
        form = build_schema_form(schema.fields, data=request.POST, references=_references(request, schema))
        name = request.POST.get("block_name", "").strip()
        if not form.is_valid():
            return _form_page(request, block_type=block_type, form=form, status=400)
        try:
            document = block_services.block_document_create(
                workspace=request.workspace, block_schema_id=schema.pk, block_type_id=block_type.pk,
                data=schema_form_values(form), name=name, is_anonymous=False, actor=request.user)
        except DomainError as error:
            return _form_page(request, block_type=block_type, form=form, error=_located(form, error),
                              status=error.status_code)
        messages.success(request, f"Block {block_type.name} {document.name} created.")
        return redirect("web:block", org=org, ws=ws, block_id=document.pk)


def _rows(document, data: dict, revealed: bool) -> list[dict]:
    """One row per schema property: its label and shown value (secrets masked unless revealed)."""
    references = {r.name: r.reference_block_document for r in document.references.all()}
    rows = []
    for name, prop, _ in schema_properties(document.block_schema.fields):
        secret = is_secret(prop) or name in (document.block_schema.fields.get("secret_fields") or [])
        row = {"name": name, "label": prop.get("title") or name, "secret": secret, "reference": references.get(name)}
        value = data.get(name)
        if row["reference"] is None:
            if value is None:
                row["value"] = None
            elif secret and not revealed:
                row["value"] = block_selectors.OBFUSCATED
            else:
                row["value"] = value if isinstance(value, str) else json.dumps(value, indent=2)
        rows.append(row)
    return rows


def _detail(request, document, *, revealed: bool):
    data = block_selectors.block_document_data(document, include_secrets=revealed)
    return render(request, "web/blocks/detail.html", {
        "organization": request.organization, "workspace": request.workspace, "document": document,
        "rows": _rows(document, data, revealed), "revealed": revealed,
        "has_secrets": bool(document.encrypted_secrets),
        "can_reveal": request.access.has(READ_SECRETS), "can_write": request.access.has(WRITE),
    })


class BlockDetailView(WorkspacePageView):
    required_permissions = {"GET": READ}

    def get(self, request, org, ws, block_id):
        return _detail(request, _document_or_404(request, block_id), revealed=False)


class BlockRevealView(WorkspacePageView):
    """Secret values are shown on a POST (not a link a crawler or preview could follow) and every reveal is
    recorded in the audit trail, as the API's include_secrets reads are."""

    required_permissions = {"POST": READ_SECRETS}

    def post(self, request, org, ws, block_id):
        document = _document_or_404(request, block_id)
        block_services.block_secrets_read(workspace=request.workspace, documents=[document], actor=request.user)
        response = _detail(request, document, revealed=True)
        response["Cache-Control"] = "no-store"
        return response


class BlockEditView(WorkspacePageView):
    required_permissions = {"GET": WRITE, "POST": WRITE}

    def _form(self, request, document, current, data=None):
        schema = document.block_schema
        return build_schema_form(schema.fields, data=data, initial=current, keep_secrets=True,
                                 references=_references(request, schema, document))

    def get(self, request, org, ws, block_id):
        document = _document_or_404(request, block_id)
        document.block_type.latest_schema = document.block_schema
        current = block_selectors.block_document_data(document, include_secrets=False)
        return _form_page(request, block_type=document.block_type, form=self._form(request, document, current),
                          document=document)

    def post(self, request, org, ws, block_id):
        document = _document_or_404(request, block_id)
        document.block_type.latest_schema = document.block_schema
        current = block_selectors.block_document_data(document, include_secrets=False)
        form = self._form(request, document, current, data=request.POST)
        if not form.is_valid():
            return _form_page(request, block_type=document.block_type, form=form, document=document, status=400)
        # Merged into the saved data (nested objects too): nested blocks are kept, and a secret left empty keeps
        # its value (sent back masked, the service restores it).
        values = schema_form_values(form, current=current)
        try:
            block_services.block_document_update(workspace=request.workspace, block_document_id=document.pk,
                                                 data=values, block_schema_id=None, merge_existing_data=True,
                                                 actor=request.user)
        except DomainError as error:
            return _form_page(request, block_type=document.block_type, form=form, document=document,
                              error=_located(form, error), status=error.status_code)
        messages.success(request, f"Block {document.name} saved.")
        return redirect("web:block", org=org, ws=ws, block_id=document.pk)


class BlockDeleteView(WorkspacePageView):
    required_permissions = {"POST": WRITE}

    def post(self, request, org, ws, block_id):
        document = _document_or_404(request, block_id)
        block_services.block_document_delete(workspace=request.workspace, block_document_id=document.pk,
                                             actor=request.user)
        messages.success(request, f"Block {document.name} deleted.")
        return redirect("web:blocks", org=org, ws=ws)
