"""The API's JSON body parser: DRF's, refusing a body that carries a NUL character (U+0000).

PostgreSQL's jsonb and text cannot hold U+0000, so such a value failed at the first write as a 500 (Prefect
2.20's server on PostgreSQL answers 503 there). Refused here, once for every JSON body, it is a 422 in the
API's validation shape before anything is read or written, on SQLite alike. JSON text can carry the
character only as the escape `\\u0000` (a raw control character does not parse), so one search of the raw
bytes decides for almost every body; the lean dispatch (apps/core/api/lean.py) makes the same search and
leaves such a body to DRF, so this parser answers it on both paths.
"""

from __future__ import annotations

import io

from rest_framework import parsers

from apps.core.errors import Invalid

NUL_ESCAPE = b"\\u0000"
NUL_MESSAGE = "The character U+0000 (NUL) is not allowed in a value or key."


def has_nul(body: bytes | str) -> bool:
    """Whether the JSON text `body` holds an escaped NUL: a `\\u0000` whose backslash is not itself escaped
    (the text `\\\\u0000` is a backslash followed by `u0000`). Cheap when there is no such escape at all."""
    if isinstance(body, str):
        if "\\u0000" not in body:
            return False
        body = body.encode()
    start = body.find(NUL_ESCAPE)
    while start >= 0:
        backslashes = 1
        while start - backslashes >= 0 and body[start - backslashes] == 0x5C:
            backslashes += 1
        if backslashes % 2:  # this backslash begins an escape
            return True
        start = body.find(NUL_ESCAPE, start + 1)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser (a body that does not parse keeps DRF's 400), then the NUL check (a 422)."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read()
        data = super().parse(io.BytesIO(body), media_type, parser_context)
        if NUL_ESCAPE in body and has_nul(body):
            raise Invalid(NUL_MESSAGE, loc=["body"], code="nul_character")
        return data
