"""Schema changes for databases that already exist (a SQLite file on a volume outlives images).

One change so far: `tasks.id` became AUTOINCREMENT on SQLite, so that a deleted task's id is never
reused. SQLite cannot alter a column in place, so the table is rebuilt in one IMMEDIATE
transaction (rows, ids and timestamps kept; SQLite's sequence starts after the highest id kept).
Ids deleted before the migration and above that highest id cannot be known any more; from the
migration on, none is reused. Several workers starting at once are safe: the check is repeated
inside the write lock.
"""

from __future__ import annotations

import logging
from typing import Any

from taskapp.logs import log_safely
from taskapp.models import Task

COLUMNS = "id, title, description, completed, created_at, updated_at"


def _table_sql(cursor: Any) -> str | None:
    row = cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tasks'").fetchone()
    return row[0] if row else None


def needs_autoincrement(sql: str | None) -> bool:
    """Whether a `tasks` table definition lacks AUTOINCREMENT (None: no table, nothing to do)."""
    return sql is not None and "AUTOINCREMENT" not in sql.upper()


def migrate_sqlite(engine: Any, logger: logging.Logger) -> bool:
    """Rebuild `tasks` with AUTOINCREMENT when an older file lacks it; True when it did."""
    if engine.dialect.name != "sqlite":
        return False
    from sqlalchemy.schema import CreateTable

    create_sql = str(CreateTable(Task.__table__).compile(dialect=engine.dialect)).strip()
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        previous = dbapi.isolation_level
        dbapi.isolation_level = None  # we issue BEGIN/COMMIT ourselves
        cursor = dbapi.cursor()
        try:
            if not needs_autoincrement(_table_sql(cursor)):
                return False
            cursor.execute("BEGIN IMMEDIATE")
            try:
                if not needs_autoincrement(_table_sql(cursor)):  # another worker did it meanwhile
                    cursor.execute("ROLLBACK")
                    return False
                count = cursor.execute("SELECT count(*) FROM tasks").fetchone()[0]
                cursor.execute("ALTER TABLE tasks RENAME TO tasks_before_autoincrement")
                cursor.execute(create_sql)
                cursor.execute(
                    f"INSERT INTO tasks ({COLUMNS}) SELECT {COLUMNS} FROM tasks_before_autoincrement"
                )
                cursor.execute("DROP TABLE tasks_before_autoincrement")
                cursor.execute("COMMIT")
            except Exception:
                cursor.execute("ROLLBACK")
                raise
        finally:
            cursor.close()
            dbapi.isolation_level = previous
    finally:
        raw.close()
    fields = {"migration": "tasks.id AUTOINCREMENT", "rows": count}
    log_safely(logger, logging.WARNING, "Schema migrated", fields)
    return True
