"""What SQLite and PostgreSQL spell differently, in one small object per engine (Synapse's engines).

Statements in :mod:`ticket_alarm.store.sql.queries` and :mod:`ticket_alarm.store.sql.store` are
written once with ``?`` placeholders; :meth:`Dialect.sql` turns them into the engine's (``%s`` for
psycopg, whose ``%`` must then be doubled). Both engines speak ``INSERT … ON CONFLICT (…) DO UPDATE
SET c=excluded.c`` / ``DO NOTHING`` and ``RETURNING`` (SQLite since 3.35); what else differs — a
list parameter, reading a JSON text column, locking claimed rows, the table catalogue — is a method
or an attribute here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class Dialect:
    name: ClassVar[str]
    placeholder: ClassVar[str]  # "?" (sqlite3) or "%s" (psycopg)
    arrays: ClassVar[bool]  # `col = ANY(?)` with one list parameter (else `col IN (?, ?, …)`)
    chunk: ClassVar[int]  # values per `among` condition (SQLite counts each as a variable)
    insertion_order: ClassVar[str]  # the column that orders rows stored in the same instant
    lock_rows: ClassVar[str]  # suffix of a SELECT whose rows the transaction then updates
    claim_rows: ClassVar[str]  # the same, where rows another transaction holds are passed over
    has_table: ClassVar[str]  # a row when the table named by the one parameter exists

    def sql(self, text: str) -> str:
        """``text`` (written with ``?``) in this engine's placeholders."""
        if self.placeholder == "?":
            return text
        return text.replace("%", "%%").replace("?", self.placeholder)

    def among(self, column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        """``column`` is one of ``values``: the condition (``?`` form) and its parameters."""
        if self.arrays:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({','.join('?' * len(values))})", list(values)

    def json_text(self, column: str, key: str) -> str:
        """The text of top-level member ``key`` of the JSON text ``column`` (NULL when absent)."""
        raise NotImplementedError

    def any_member(self, column: str, key: str, member: str, test: str) -> str:
        """A condition: some object of the array ``key`` of the JSON text ``column`` has a text
        ``member`` that passes ``test`` (a ``str.format`` pattern whose ``{}`` is that text)."""
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    placeholder = "?"
    arrays = False
    chunk = 500
    insertion_order = "rowid"
    lock_rows = ""  # BEGIN IMMEDIATE: one writer at a time, nothing to lock row by row
    claim_rows = ""
    has_table = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def any_member(self, column: str, key: str, member: str, test: str) -> str:
        text = f"json_extract(json_each.value, '$.{member}')"
        return f"EXISTS (SELECT 1 FROM json_each({column}, '$.{key}') WHERE {test.format(text)})"


class PostgresDialect(Dialect):
    name = "postgresql"
    placeholder = "%s"
    arrays = True
    chunk = 1000
    insertion_order = "ctid"
    lock_rows = " FOR UPDATE"
    claim_rows = " FOR UPDATE SKIP LOCKED"  # replicas draining one route take disjoint rows
    has_table = (
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name=?"
    )

    def json_text(self, column: str, key: str) -> str:
        return f"ta_json({column}) ->> '{key}'"  # ta_json: the text as jsonb, without \u0000 (step 4)

    def any_member(self, column: str, key: str, member: str, test: str) -> str:
        array = f"ta_json({column}) -> '{key}'"  # jsonb_array_elements refuses anything but an array
        text = f"p ->> '{member}'"
        return (
            f"(jsonb_typeof({array}) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements({array}) AS p "
            f"WHERE jsonb_typeof(p) = 'object' AND {test.format(text)}))"
        )


SQLITE: Dialect = SqliteDialect()
POSTGRES: Dialect = PostgresDialect()
