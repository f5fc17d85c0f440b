"""PostgreSQL through psycopg 3, against a real server that this module starts (initdb + pg_ctl in a
temporary directory, loopback only, as the `postgres` user when the tests run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from app_support import LiveServer, Otel, app_config, free_port, make_otel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taskapp import create_app, shutdown
from taskapp.validation import BLANKS

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def _pg_bindir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]), reverse=True
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(os.path.realpath(on_path)).parent))
    for directory in candidates:
        if all(Path(directory, tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(directory)
    return None


@dataclass
class PgServer:
    bindir: Path
    root: Path
    port: int
    as_user: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, db: str = "tasks") -> str:
        return f"postgresql://taskapp@127.0.0.1:{self.port}/{db}"

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=check)

    def stop(self) -> None:
        self.ctl("-m", "immediate", "stop", check=False)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="taskapp-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PgServer(bindir=bindir, root=root, port=free_port(), as_user=as_user)
    try:
        init = subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(server.data), "-U", "taskapp", "--auth=trust",
             "-E", "UTF8", "--no-locale", "--no-sync"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if init.returncode != 0:
            pytest.skip(f"initdb failed, cannot start PostgreSQL here: {init.stderr.strip()[-300:]}")
        options = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {root} -c fsync=off"
        started = server.ctl(
            "-l", str(root / "server.log"), "-o", options, "-w", "-t", "30", "start", check=False
        )
        if started.returncode != 0:
            log = (
                (root / "server.log").read_text(errors="replace")[-500:]
                if (root / "server.log").exists()
                else ""
            )
            pytest.skip(f"pg_ctl start failed: {started.stderr.strip()[-300:]} {log}")
        import psycopg

        with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE tasks")
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_app(pg: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Otel]]:
    otel = make_otel()
    config = app_config(tmp_path_factory.mktemp("unused") / "unused.db", otel, DATABASE_URL=pg.url())
    app = create_app(config)
    live = LiveServer(app)
    yield live, otel
    live.stop()
    shutdown(app)


def test_uses_psycopg3_and_real_postgres(pg_app: tuple[LiveServer, Otel], pg: PgServer) -> None:
    live, _otel = pg_app
    from taskapp.models import db

    with live.app.app_context():
        assert db.engine.url.drivername == "postgresql+psycopg"
        assert db.engine.dialect.driver == "psycopg"
    assert live("GET", "/ready").json()["status"] == "ready"
    import psycopg

    with psycopg.connect(pg.url()) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    assert int(version.split(".")[0]) >= 12


def test_crud_smoke_and_edge_values_on_postgres(pg_app: tuple[LiveServer, Otel], pg: PgServer) -> None:
    live, otel = pg_app
    created = live("POST", "/api/tasks", json={"title": "on postgres", "description": "ünïcödé ✓"})
    assert created.status_code == 201, created.text
    task = created.json()
    assert live("GET", f"/api/tasks/{task['id']}").json() == task
    assert live("PUT", f"/api/tasks/{task['id']}", json={"completed": True}).json()["completed"] is True
    smoke = live("POST", "/api/smoke/db", params={"ops": 200, "type": "rw"})
    assert smoke.status_code == 200 and smoke.json()["writes"] == 100
    assert live("GET", "/api/tasks").json()["count"] == 1  # smoke writes were rolled back

    # values PostgreSQL would refuse (a 500 if they reached it) are 4xx
    assert live("POST", "/api/tasks", json={"title": "nul\x00byte"}).status_code == 400
    assert live("GET", "/api/tasks/2147483647").status_code == 404
    assert live("GET", "/api/tasks/2147483648").status_code == 400
    assert live("GET", "/api/tasks", params={"offset": 2147483647}).status_code == 200

    sql = [s for s in otel.finished() if s.attributes.get("db.system") in ("postgresql",)]
    sql += [s for s in otel.finished() if s.attributes.get("db.system.name") == "postgresql"]
    assert sql, "SQLAlchemy spans should say they talk to PostgreSQL"

    import psycopg

    with psycopg.connect(pg.url()) as conn:
        rows = conn.execute("SELECT title, description, completed FROM tasks").fetchall()
    assert rows == [("on postgres", "ünïcödé ✓", True)]
    assert live("DELETE", f"/api/tasks/{task['id']}").status_code == 200


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(title=st.text(min_size=0, max_size=210), description=st.one_of(st.none(), st.text(max_size=50)))
def test_any_text_is_stored_or_refused_never_5xx(
    pg_app: tuple[LiveServer, Otel], title: str, description: str | None
) -> None:
    live, _otel = pg_app
    response = live("POST", "/api/tasks", json={"title": title, "description": description})
    assert response.status_code in (201, 400), response.text
    if response.status_code == 201:
        assert live("GET", f"/api/tasks/{response.json()['id']}").json()["title"] == title.strip(BLANKS)


def test_a_deleted_id_is_never_reused_on_postgres(pg_app: tuple[LiveServer, Otel]) -> None:
    live, _otel = pg_app
    newest = live("POST", "/api/tasks", json={"title": "newest"}).json()["id"]
    assert live("DELETE", f"/api/tasks/{newest}").status_code == 200
    assert live("POST", "/api/tasks", json={"title": "next"}).json()["id"] > newest  # as on SQLite


def test_database_outage_is_503_not_500(pg_app: tuple[LiveServer, Otel], pg: PgServer) -> None:
    """Runs last in this module: it stops the server."""
    live, _otel = pg_app
    pg.stop()
    ready = live("GET", "/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    listing = live("GET", "/api/tasks")
    assert listing.status_code == 503
    assert listing.json() == {"error": "database unavailable"}
    assert live("GET", "/health").status_code == 200  # liveness does not depend on the database
