"""SQL written once for SQLite and PostgreSQL: ``dialect`` (what differs) and ``queries`` (each statement)."""
