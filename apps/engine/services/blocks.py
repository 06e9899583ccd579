"""Writes for blocks: seeding a workspace's system block types and schemas, registering types and
schemas (the client's `prefect block register`), and block documents with their secrets encrypted."""

from __future__ import annotations

import hashlib
import json
import uuid

import jsonschema
from django.db import IntegrityError, transaction

from apps.audit.services import audit_record
from apps.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from apps.engine.models.blocks import BlockDocument, BlockDocumentReference, BlockSchema, BlockType
from apps.engine.selectors.blocks import (
    OBFUSCATED,
    block_document_data,
    block_document_get,
    block_schema_get_by_checksum,
    system_blocks,
)
from apps.engine.services.block_encryption import encrypt_secrets

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


# --- system blocks -------------------------------------------------------------------------------

def workspace_seed_blocks(*, workspace) -> int:
    """Install the system block types and schemas of the pinned 2.20 client into a workspace.

    Idempotent: existing slugs and (checksum, version) pairs are left alone, so it also serves
    existing workspaces (`manage.py seed_system_blocks`). Returns how many schemas were added.
    """
    entries = system_blocks()
    types = BlockType.objects.for_workspace(workspace)
    with transaction.atomic():
        types.bulk_create(
            [BlockType(workspace=workspace, **entry["block_type"]) for entry in entries], ignore_conflicts=True
        )
        type_ids = dict(types.filter(slug__in=[e["block_type"]["slug"] for e in entries]).values_list("slug", "id"))
        schemas = BlockSchema.objects.for_workspace(workspace)
        before = schemas.count()
        schemas.bulk_create(
            [
                BlockSchema(workspace=workspace, block_type_id=type_ids[e["block_type"]["slug"]], **e["block_schema"])
                for e in entries
            ],
            ignore_conflicts=True,
        )
        return schemas.count() - before


def schema_checksum(fields: dict) -> str:
    """The checksum the 2.20 client computes for a block schema (Block._calculate_schema_checksum):
    sha256 of the sorted-keys JSON of ((fields,), {}) without `secret_fields`, keeping only the
    definitions that are not blocks themselves."""

    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k != "secret_fields"}
        return obj

    fields = strip(fields)
    definitions = fields.get("definitions")
    if definitions:
        kept = _non_block_definitions(fields, definitions)
        if kept:
            fields["definitions"] = kept
        else:
            fields.pop("definitions")
    payload = json.dumps([[fields], {}], sort_keys=True)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def _references(obj) -> list[str]:
    found = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_references(value))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(_references(item))
    return found


def _non_block_definitions(obj: dict, definitions: dict) -> dict:
    kept: dict = {}
    for ref in _references(obj):
        key = ref.replace("#/definitions/", "")
        definition = definitions.get(key)
        if definition and definition.get("block_type_slug") is None:
            kept = {**kept, key: definition, **_non_block_definitions(definition, definitions)}
    return kept


# --- block types ---------------------------------------------------------------------------------

def block_type_create(*, workspace, name: str, slug: str, logo_url: str | None = None,
                      documentation_url: str | None = None, description: str | None = None,
                      code_example: str | None = None, actor=None) -> BlockType:
    """Create a block type; names beginning with "Prefect" are reserved; name and slug are unique."""
    if name.lower().startswith("prefect"):
        raise PermissionDenied("Block type names beginning with 'Prefect' are reserved.")
    scoped = BlockType.objects.for_workspace(workspace)
    if scoped.filter(name=name).exists() or scoped.filter(slug=slug).exists():
        raise Conflict(f'Block type with name "{name}" already exists')
    try:
        with transaction.atomic():
            return scoped.create(workspace=workspace, name=name, slug=slug, logo_url=logo_url,
                                 documentation_url=documentation_url, description=description,
                                 code_example=code_example)
    except IntegrityError:
        raise Conflict(f'Block type with name "{name}" already exists') from None


def block_type_update(*, block_type: BlockType, changes: dict, actor=None) -> BlockType:
    """Update a block type's descriptive fields, only when something differs (as Prefect does, to
    avoid needless writes when many processes register the same block). Protected types keep theirs."""
    changed = {k: v for k, v in changes.items() if getattr(block_type, k) != v}
    if changed and not block_type.is_protected:
        for key, value in changed.items():
            setattr(block_type, key, value)
        block_type.save(update_fields=[*changed, "updated"])
    return block_type


def block_type_delete(*, block_type: BlockType, actor=None) -> None:
    """Delete a block type with its schemas and documents; protected (system) types cannot be deleted."""
    if block_type.is_protected:
        raise PermissionDenied("protected block types cannot be deleted.")
    block_type.delete()


# --- block schemas -------------------------------------------------------------------------------

def block_schema_create(*, workspace, block_type: BlockType, fields: dict, capabilities: list[str],
                        version: str, actor=None) -> tuple[BlockSchema, bool]:
    """Register a block schema; the checksum is computed here from `fields` as the client does.
    Returns (schema, created): an identical (checksum, version) schema is returned as it is."""
    checksum = schema_checksum(fields)
    existing = block_schema_get_by_checksum(workspace=workspace, checksum=checksum, version=version)
    if existing is not None:
        return existing, False
    scoped = BlockSchema.objects.for_workspace(workspace)
    try:
        with transaction.atomic():
            schema = scoped.create(workspace=workspace, block_type=block_type, checksum=checksum, fields=fields,
                                   capabilities=list(capabilities), version=version)
    except IntegrityError:
        return block_schema_get_by_checksum(workspace=workspace, checksum=checksum, version=version), False
    return schema, True


def block_schema_delete(*, block_schema: BlockSchema, actor=None) -> None:
    if block_schema.block_type.is_protected:
        raise PermissionDenied("Block schemas for protected block types cannot be deleted.")
    block_schema.delete()


# --- secrets inside document data ----------------------------------------------------------------

def _secret_paths(data: dict, secret_fields: list[str]) -> list[list[str]]:
    """Concrete key paths in `data` named by the schema's secret fields ("a.b", "headers.*")."""
    paths: list[list[str]] = []

    def walk(node, parts: list[str], prefix: list[str]):
        if not parts:
            paths.append(prefix)
            return
        if not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        keys = list(node) if head == "*" else ([head] if head in node else [])
        for key in keys:
            walk(node[key], rest, [*prefix, key])

    for field in secret_fields:
        walk(data, field.split("."), [])
    return paths


def _pop_path(data: dict, path: list[str]):
    node = data
    for key in path[:-1]:
        node = node[key]
    return node.pop(path[-1])


def split_secrets(data: dict, secret_fields: list[str]) -> tuple[dict, list]:
    """(data without its secret values, [[path, value], ...]) — a deep copy; `data` is untouched."""
    public = json.loads(json.dumps(data))
    secrets = [[path, _pop_path(public, path)] for path in _secret_paths(public, secret_fields)]
    return public, secrets


# --- block documents -----------------------------------------------------------------------------

def _validate_name(name: str | None, *, is_anonymous: bool) -> None:
    if not name:
        if not is_anonymous:
            raise Invalid("Names must be provided for block documents.", loc=["body", "name"])
        return
    if not set(name) <= _NAME_CHARS or len(name) > 255:
        raise Invalid("name must only contain lowercase letters, numbers, and dashes.", loc=["body", "name"])


def _separate_references(workspace, data: dict) -> tuple[dict, dict[str, BlockDocument]]:
    """Top-level `{"$ref": {"block_document_id": …}}` values name saved documents of this workspace."""
    own, references = {}, {}
    for key, value in data.items():
        if isinstance(value, dict) and "$ref" in value:
            ref = value["$ref"]
            raw_id = ref.get("block_document_id") if isinstance(ref, dict) else None
            try:
                ref_id = uuid.UUID(str(raw_id))
            except ValueError:
                raise Invalid(f"Block reference in {key!r} has no valid block_document_id.",
                              loc=["body", "data", key]) from None
            referenced = block_document_get(workspace=workspace, block_document_id=ref_id)
            if referenced is None:
                raise NotFound(f"Block document {ref_id} referenced by {key!r} not found.")
            references[key] = referenced
        else:
            own[key] = value
    return own, references


def _validate_data(schema: BlockSchema, data: dict, reference_names: set[str]) -> None:
    """Check the document's data against its schema's JSON Schema; nested blocks (saved or inline)
    are checked by their own schema, so they are left out here."""
    fields = schema.fields
    nested = set(fields.get("block_schema_references") or {}) | reference_names
    checked = {k: v for k, v in fields.items() if k not in ("block_schema_references", "secret_fields")}
    checked["properties"] = {k: v for k, v in (fields.get("properties") or {}).items() if k not in nested}
    if "required" in checked:
        checked["required"] = [k for k in checked["required"] if k not in nested]
    # Optional fields of the client's pydantic v1 models are absent from `required` but not declared
    # nullable, and the client sends them as null (the Process block's `command`): null is "unset" there.
    required = set(checked.get("required") or ())
    payload = {k: v for k, v in data.items() if k not in nested and not (v is None and k not in required)}
    validator = jsonschema.Draft7Validator(checked)
    try:
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    except jsonschema.exceptions.SchemaError as exc:
        raise Invalid(f"The block schema is not a valid JSON Schema: {exc.message}", loc=["body", "data"]) from None
    if errors:
        first = errors[0]
        raise Invalid(first.message, loc=["body", "data", *first.absolute_path], code="block_data_invalid")


def _store_data(document: BlockDocument, schema: BlockSchema, data: dict) -> None:
    public, secrets = split_secrets(data, schema.fields.get("secret_fields") or [])
    document.data = public
    document.encrypted_secrets = encrypt_secrets(secrets) if secrets else ""


@transaction.atomic
def block_document_create(*, workspace, block_schema_id: uuid.UUID, block_type_id: uuid.UUID, data: dict,
                          name: str | None, is_anonymous: bool, actor=None) -> BlockDocument:
    """Create a block document; secrets encrypted, data validated against its schema (422, nothing
    stored), a name unique per block type (409). Anonymous documents get a generated name."""
    _validate_name(name, is_anonymous=is_anonymous)
    schema = (BlockSchema.objects.for_workspace(workspace).select_related("block_type")
              .filter(pk=block_schema_id).first())
    if schema is None:
        raise NotFound(f"Block schema {block_schema_id} not found.")
    if schema.block_type_id != block_type_id:
        raise Invalid("The block schema does not belong to the given block type.", loc=["body", "block_type_id"])
    if is_anonymous and not name:
        name = f"anonymous-{uuid.uuid4()}"
    own, references = _separate_references(workspace, data)
    _validate_data(schema, own, set(references))
    documents = BlockDocument.objects.for_workspace(workspace)
    if documents.filter(block_type_id=block_type_id, name=name).exists():
        raise Conflict("Block already exists")
    document = BlockDocument(workspace=workspace, name=name, is_anonymous=is_anonymous, block_schema=schema,
                             block_type_id=block_type_id)
    _store_data(document, schema, own)
    try:
        with transaction.atomic():
            document.save(force_insert=True)
    except IntegrityError:
        raise Conflict("Block already exists") from None
    BlockDocumentReference.objects.for_workspace(workspace).bulk_create(
        [BlockDocumentReference(workspace=workspace, name=key, parent_block_document=document,
                                reference_block_document=ref) for key, ref in references.items()]
    )
    return document


@transaction.atomic
def block_document_update(*, workspace, block_document_id: uuid.UUID, data: dict | None,
                          block_schema_id: uuid.UUID | None, merge_existing_data: bool, actor=None) -> BlockDocument:
    """Update a document's data (merged into the existing data by default) and optionally move it to
    another schema of its type. A secret sent back obscured keeps its stored value."""
    document = (BlockDocument.objects.for_workspace(workspace).select_for_update()
                .filter(pk=block_document_id).first())
    if document is None:
        raise NotFound("Block document not found")
    schema = document.block_schema
    if block_schema_id is not None and block_schema_id != document.block_schema_id:
        schema = BlockSchema.objects.for_workspace(workspace).filter(pk=block_schema_id).first()
        if schema is None:
            raise NotFound(f"Block schema {block_schema_id} not found.")
        if schema.block_type_id != document.block_type_id:
            raise Invalid("Must migrate block document to a block schema of the same block type.",
                          loc=["body", "block_schema_id"])
    if data is None:
        if schema.pk != document.block_schema_id:
            document.block_schema = schema
            document.save(update_fields=["block_schema", "updated"])
        return document
    current = block_document_data(document, include_secrets=True)
    incoming = json.loads(json.dumps(data))
    secret_fields = schema.fields.get("secret_fields") or []
    for path in _secret_paths(incoming, secret_fields):
        node = incoming
        for key in path[:-1]:
            node = node[key]
        if node[path[-1]] == OBFUSCATED:
            old = current
            for key in path:
                old = old.get(key) if isinstance(old, dict) else None
            if old is not None:
                node[path[-1]] = old
    merged = {**current, **incoming} if merge_existing_data else incoming
    own, new_references = _separate_references(workspace, merged)
    existing = {r.name: r for r in document.references.all()}
    references = (
        {k: r.reference_block_document for k, r in existing.items() if k not in incoming}
        if merge_existing_data else {}
    )
    references.update(new_references)
    _validate_data(schema, own, set(references))
    document.block_schema = schema
    _store_data(document, schema, own)
    document.save(update_fields=["data", "encrypted_secrets", "block_schema", "updated"])
    stale = [r.pk for k, r in existing.items()
             if k not in references or references[k].pk != r.reference_block_document_id]
    refs = BlockDocumentReference.objects.for_workspace(workspace)
    refs.filter(pk__in=stale).delete()
    kept = {k for k, r in existing.items() if r.pk not in stale}
    refs.bulk_create(
        [BlockDocumentReference(workspace=workspace, name=key, parent_block_document=document,
                                reference_block_document=ref) for key, ref in references.items() if key not in kept]
    )
    return document


def block_document_delete(*, workspace, block_document_id: uuid.UUID, actor=None) -> None:
    deleted, _ = BlockDocument.objects.for_workspace(workspace).filter(pk=block_document_id).delete()
    if not deleted:
        raise NotFound("Block document not found")


def block_secrets_read(*, workspace, documents, actor) -> None:
    """Record in the audit trail that these documents' secret values were returned unobfuscated: one
    event per request, naming the documents that hold secrets (none → nothing recorded)."""
    revealed = [d for d in documents if d.encrypted_secrets]
    if not revealed:
        return
    single = revealed[0] if len(revealed) == 1 else None
    audit_record(
        action="praetor.block_secret.read", actor=actor, organization_id=workspace.organization_id,
        workspace_id=workspace.pk, target_type="block_document",
        target_id=str(single.pk) if single else "", target_label=single.name if single else "",
        details={"count": len(revealed), "block_documents": [{"id": str(d.pk), "name": d.name} for d in revealed[:50]]},
    )
