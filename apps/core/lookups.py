"""Database lookups the ORM lacks on one of our two databases (PostgreSQL in production, SQLite in the
embedded quick start). Registered once, in CoreConfig.ready().

`json_field__contains_all=[...]`: the JSON array holds every one of the given strings (Prefect's
`tags.all_`). Django's `__contains` does this on PostgreSQL only (`@>`); SQLite has no JSON containment,
so there it is spelled with `json_each`: no wanted value is missing from the column's array.

`json_field__has_element={key: value, ...}`: the JSON array holds an object with (at least) those keys
and string values (an event's `related` resources by id, role or label): `@> [{...}]` on PostgreSQL,
`json_each` over the array and over each element's keys on SQLite (any key, no JSON-path quoting).
"""

from __future__ import annotations

import json

from django.db import NotSupportedError
from django.db.models import JSONField, Lookup


@JSONField.register_lookup
class ContainsAll(Lookup):
    lookup_name = "contains_all"
    prepare_rhs = False

    def get_prep_lookup(self):
        if not isinstance(self.rhs, list | tuple) or not all(isinstance(v, str) for v in self.rhs):
            raise TypeError("contains_all takes a list of strings")
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"contains_all is not implemented for {connection.vendor}")

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} @> %s::jsonb", [*lhs_params, json.dumps(self.rhs)]

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        # `lhs` is the compiled column reference; the wanted values are a parameter
        sql = f"NOT EXISTS (SELECT 1 FROM json_each(%s) AS wanted WHERE wanted.value NOT IN (SELECT have.value FROM json_each({lhs}) AS have))"  # noqa: E501, S608
        return sql, [json.dumps(self.rhs), *lhs_params]


@JSONField.register_lookup
class HasElement(Lookup):
    lookup_name = "has_element"
    prepare_rhs = False

    def get_prep_lookup(self):
        if not isinstance(self.rhs, dict) or not self.rhs or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.rhs.items()):
            raise TypeError("has_element takes a non-empty dict of strings")
        return dict(self.rhs)

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"has_element is not implemented for {connection.vendor}")

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} @> %s::jsonb", [*lhs_params, json.dumps([self.rhs])]

    def as_sqlite(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        # each element's keys are walked through its path in the column (json_each(column, path)), so an
        # element that is not an object never reaches a JSON function as text
        pair = f"EXISTS (SELECT 1 FROM json_each({lhs}, element.fullkey) AS kv WHERE kv.key = %s AND kv.value = %s)"  # noqa: S608
        where = " AND ".join([pair] * len(self.rhs))
        params = [item for key, value in self.rhs.items() for item in (*lhs_params, key, value)]
        sql = f"EXISTS (SELECT 1 FROM json_each({lhs}) AS element WHERE element.type = 'object' AND {where})"  # noqa: S608
        return sql, [*lhs_params, *params]
