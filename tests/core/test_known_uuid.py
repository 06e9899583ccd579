"""`known_uuid` (apps/core/api/flat.py) answers what `uuid.UUID(text)` answers, errors included, handing out the
instance of an earlier parse of the same text; `path_uuid` reads path segments through it with its 422 kept."""

from __future__ import annotations

import uuid

import pytest

from apps.core.api import flat
from apps.core.errors import Invalid
from apps.engine.api.common import path_uuid

ID = uuid.UUID("0a8b8f8e-64f7-4d6c-9bd1-5d7c1f0e2a3b")
TEXTS = [str(ID), str(ID).upper(), ID.hex, f"{{{ID}}}", f"urn:uuid:{ID}", f" {ID} ", str(ID)[:-1], "", "bad",
         str(ID) + "0", "g" * 32, "urn:uuid:", "{}", "-" * 36, "0" * 32, "f" * 32,
         "12345678-1234-5678-1234-56781234567g"]


def _outcome(parse, text):
    try:
        value = parse(text)
    except Exception as error:  # the error is the outcome compared
        return "error", type(error), str(error)
    return "ok", type(value), value, value.version, value.variant


@pytest.mark.parametrize("text", TEXTS)
def test_known_uuid_answers_as_uuid_does_twice(text):
    expected = _outcome(uuid.UUID, text)
    first, second = _outcome(flat.known_uuid, text), _outcome(flat.known_uuid, text)
    assert first == second == expected
    if expected[0] == "ok":
        assert flat.known_uuid(text) is flat.known_uuid(text)


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(flat, "_UUIDS", {})
    monkeypatch.setattr(flat, "_UUIDS_MAX", 3)
    for n in range(10):
        assert flat.known_uuid(str(uuid.UUID(int=n))) == uuid.UUID(int=n)
        assert len(flat._UUIDS) <= 3


@pytest.mark.parametrize("text", TEXTS)
def test_path_uuid_keeps_its_answer_and_its_422(text):
    try:
        expected = uuid.UUID(text)
    except ValueError:
        with pytest.raises(Invalid) as raised:
            path_uuid(text, "flow_run_id")
        assert raised.value.loc == ["path", "flow_run_id"]
        return
    assert path_uuid(text) == expected and type(path_uuid(text)) is uuid.UUID
    assert path_uuid(ID) == ID  # a UUID given (str() first, as before)
