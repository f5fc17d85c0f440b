"""Task ids are never reused: a retried DELETE of an old id must not delete somebody else's task.

SQLite hands out max(rowid)+1 unless the table is AUTOINCREMENT; PostgreSQL's sequence never goes
back (see test_app_postgres.py). An existing SQLite file from before the change is migrated in
place, keeping every row.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app_support import LiveServer, app_config, make_otel
from taskapp import create_app, shutdown

# The `tasks` table as SQLAlchemy created it before AUTOINCREMENT (an existing volume has this).
OLD_SCHEMA = """
CREATE TABLE tasks (
    id INTEGER NOT NULL,
    title VARCHAR(200) NOT NULL,
    description TEXT NOT NULL,
    completed BOOLEAN NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id)
)
"""


def create(live: LiveServer, title: str) -> int:
    response = live("POST", "/api/tasks", json={"title": title})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_a_deleted_id_is_never_handed_out_again(live: LiveServer, tmp_path: Path) -> None:
    first = create(live, "first")
    newest = create(live, "newest")
    assert live("DELETE", f"/api/tasks/{newest}").status_code == 200
    after = create(live, "after the delete")
    assert after > newest  # without AUTOINCREMENT SQLite would answer `newest` again
    # a retried DELETE of the old id finds nothing instead of deleting the new task
    assert live("DELETE", f"/api/tasks/{newest}").status_code == 404
    assert live("GET", f"/api/tasks/{after}").status_code == 200
    assert live("GET", f"/api/tasks/{first}").status_code == 200
    with sqlite3.connect(tmp_path / "tasks-0.db") as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'tasks'").fetchone()[0]
    assert "AUTOINCREMENT" in sql.upper()


def test_not_reused_across_a_restart_either(tmp_path: Path) -> None:
    db_path = tmp_path / "restart.db"
    app = create_app(app_config(db_path, make_otel()))
    client = app.test_client()
    newest = client.post("/api/tasks", json={"title": "a"}).get_json()["id"]
    assert client.delete(f"/api/tasks/{newest}").status_code == 200
    shutdown(app)
    app = create_app(app_config(db_path, make_otel()))
    try:
        assert app.test_client().post("/api/tasks", json={"title": "b"}).get_json()["id"] == newest + 1
    finally:
        shutdown(app)


def test_an_existing_file_is_migrated_keeping_every_row(tmp_path: Path) -> None:
    db_path = tmp_path / "old.db"
    rows = [
        (1, "one", "", 0, "2026-01-01 10:00:00.000000", "2026-01-01 10:00:00.000000"),
        (2, "two", "desc", 1, "2026-01-02 10:00:00.000000", "2026-01-03 11:00:00.000000"),
        (7, "seven", "", 0, "2026-01-04 10:00:00.000000", "2026-01-04 10:00:00.000000"),
    ]
    with sqlite3.connect(db_path) as conn:
        conn.execute(OLD_SCHEMA)
        conn.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?)", rows)
    otel = make_otel()
    app = create_app(app_config(db_path, otel))
    try:
        client = app.test_client()
        listed = client.get("/api/tasks").get_json()
        assert listed["count"] == 3
        assert [(t["id"], t["title"], t["completed"]) for t in listed["tasks"]] == [
            (7, "seven", False), (2, "two", True), (1, "one", False),
        ]  # fmt: skip
        assert client.get("/api/tasks/2").get_json()["updated_at"] == "2026-01-03T11:00:00Z"
        assert client.delete("/api/tasks/7").status_code == 200
        assert client.post("/api/tasks", json={"title": "new"}).get_json()["id"] == 8
        assert any(line["message"] == "Schema migrated" and line["rows"] == 3 for line in otel.json_lines())
    finally:
        shutdown(app)
    with sqlite3.connect(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'tasks'").fetchone()[0]
    assert "AUTOINCREMENT" in sql.upper() and "tasks_before_autoincrement" not in tables
    # a second start finds nothing to do
    app = create_app(app_config(db_path, otel))
    shutdown(app)
    assert sum(line["message"] == "Schema migrated" for line in otel.json_lines()) == 1
