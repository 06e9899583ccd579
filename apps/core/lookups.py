"""Database lookups the ORM lacks on one of our two databases (PostgreSQL in production, SQLite in the
embedded quick start). Registered once, in CoreConfig.ready().

`json_field__contains_all=[...]`: the JSON array holds every one of the given strings (Prefect's
`tags.all_`). Django's `__contains` does this on PostgreSQL only (`@>`); SQLite has no JSON containment,
so there it is spelled with `json_each`: no wanted value is missing from the column's array.
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
