"""What SQLite and PostgreSQL spell differently, in one small object per engine (Synapse's engines).

Statements in :mod:`ticket_alarm.store.sql.queries` are written once with ``?`` placeholders;
:meth:`Dialect.sql` turns them into the engine's (``%s`` for psycopg, whose ``%`` must then be doubled).
Both engines speak ``INSERT … ON CONFLICT (…) DO UPDATE SET c=excluded.c`` and ``RETURNING`` (SQLite
since 3.35).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    placeholder: str  # "?" (sqlite3) or "%s" (psycopg)
    arrays: bool  # `col = ANY(?)` with one list parameter (else `col IN (?, ?, …)`)

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


SQLITE = Dialect("sqlite", "?", arrays=False)
POSTGRES = Dialect("postgresql", "%s", arrays=True)
