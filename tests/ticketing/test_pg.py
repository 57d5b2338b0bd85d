import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from ticketing.pg import EmbeddedPostgres, EmbeddedPostgresError, PostgresNotFound, find_pg_bin

CHILD_SCRIPT = """
import sys, time
from pathlib import Path
from ticketing.pg import EmbeddedPostgres

pg = EmbeddedPostgres(Path(sys.argv[1]), persistent=False, log=lambda _message: None)
pg.start()
print(pg.port, flush=True)
time.sleep(120)
"""


@pytest.fixture
def base_dir() -> Iterator[Path]:
    # pytest's tmp_path sits under a 0700 directory, which the unprivileged user the server
    # runs as under root cannot traverse.
    path = Path(tempfile.mkdtemp(prefix="ticketing-pg-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def make_bin_dir(path: Path, names: tuple[str, ...] = ("initdb", "postgres")) -> Path:
    path.mkdir(parents=True)
    for name in names:
        (path / name).write_text("#!/bin/sh\n")
        (path / name).chmod(0o755)
    return path


def test_throwaway_cluster_serves_queries_and_is_removed_on_stop(base_dir: Path) -> None:
    data_dir = base_dir / "throwaway"
    messages: list[str] = []
    pg = EmbeddedPostgres(data_dir, persistent=False, log=messages.append)
    with pg:
        assert pg.is_running
        assert messages == [f"Creating PostgreSQL cluster in {data_dir} ..."]
        # Statements go over the Unix socket; TCP on loopback stays open for other clients.
        assert pg.url().startswith("postgresql://postgres@/postgres?host=/")
        with psycopg.connect(pg.url()) as conn:
            row = conn.execute("SELECT inet_server_addr()").fetchone()
            assert row == (None,), "a Unix socket has no server address"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres") as conn:
            row = conn.execute("SELECT host(inet_server_addr())").fetchone()
            assert row == ("127.0.0.1",)
        pid = postmaster_pid(data_dir)
        assert pid == pg.pid
        if os.geteuid() == 0:
            assert Path(f"/proc/{pid}").stat().st_uid != 0
        with psycopg.connect(pg.url()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            assert conn.execute("show fsync").fetchone() == ("off",)
            assert conn.execute("show max_connections").fetchone() == ("300",)

        pg.create_database("template_src")
        with psycopg.connect(pg.url("template_src"), autocommit=True) as conn:
            conn.execute("create table seeded (v text)")
            conn.execute("insert into seeded values ('from the template')")
        pg.create_database("copy", template="template_src")
        with psycopg.connect(pg.url("copy")) as conn:
            assert conn.execute("select v from seeded").fetchall() == [("from the template",)]
        pg.drop_database("copy")
        with pytest.raises(psycopg.OperationalError, match="copy"):
            psycopg.connect(pg.url("copy"))

    assert not pg.is_running
    assert not data_dir.exists()
    assert not process_alive(pid)


def test_persistent_cluster_keeps_data_and_port(base_dir: Path) -> None:
    data_dir = base_dir / "persistent"
    first = EmbeddedPostgres(data_dir, log=lambda _message: None)
    with first:
        port, url = first.port, first.url()
        pid = postmaster_pid(data_dir)
        with psycopg.connect(first.url(), autocommit=True) as conn:
            assert conn.execute("show fsync").fetchone() == ("on",)
            conn.execute("create table kept (v int)")
            conn.execute("insert into kept values (42)")
        with pytest.raises(EmbeddedPostgresError, match=rf"already running .*pid {pid}"):
            EmbeddedPostgres(data_dir, log=lambda _message: None).start()
        assert first.is_running
    assert not process_alive(pid)
    assert (data_dir / "PG_VERSION").exists()
    assert "ready to accept connections" in (data_dir / "postgres.log").read_text()

    messages: list[str] = []
    with EmbeddedPostgres(data_dir, log=messages.append) as second:
        assert second.port == port
        assert second.url() == url
        with psycopg.connect(second.url()) as conn:
            assert conn.execute("select v from kept").fetchall() == [(42,)]
    assert messages == []
    assert data_dir.exists()


def test_startup_failure_reports_this_runs_server_log(base_dir: Path) -> None:
    data_dir = base_dir / "broken"
    with EmbeddedPostgres(data_dir, log=lambda _message: None):
        pass
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\nshared_buffers = plenty\n")
    pg = EmbeddedPostgres(data_dir, log=lambda _message: None)
    with pytest.raises(EmbeddedPostgresError, match="exited with code") as excinfo:
        pg.start()
    message = str(excinfo.value)
    assert 'invalid value for parameter "shared_buffers": "plenty"' in message
    assert "ready to accept connections" not in message
    assert not pg.is_running


def test_configured_port_in_use_is_reported(base_dir: Path) -> None:
    data_dir = base_dir / "busy"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        pg = EmbeddedPostgres(data_dir, port=port, persistent=False, log=lambda _message: None)
        with pytest.raises(EmbeddedPostgresError) as excinfo:
            pg.start()
    assert f"Port {port}" in str(excinfo.value)
    assert "TICKETING_PG_PORT" in str(excinfo.value)
    assert not pg.is_running
    assert not data_dir.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_unreachable_data_dir_under_root_is_reported(base_dir: Path) -> None:
    private = base_dir / "private"
    private.mkdir(mode=0o700)
    pg = EmbeddedPostgres(private / "pg", persistent=False, log=lambda _message: None)
    with pytest.raises(EmbeddedPostgresError, match=f"{private} is not searchable"):
        pg.start()
    assert not (private / "pg").exists()


def test_pg_bin_without_binaries_names_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PostgresNotFound) as excinfo:
        find_pg_bin(env={"PG_BIN": str(empty)}, pg_config=None, system_globs=())
    message = str(excinfo.value)
    assert f"PG_BIN={empty}" in message
    assert "sudo apt-get install postgresql" in message
    assert "brew install postgresql@16" in message

    with pytest.raises(PostgresNotFound, match="set PG_BIN to the directory holding initdb"):
        find_pg_bin(env={}, pg_config=None, system_globs=(), wheel_package=None)


def test_without_a_system_install_the_wheel_binaries_run(tmp_path: Path) -> None:
    wheel_bin = find_pg_bin(env={}, pg_config=None, system_globs=())
    assert wheel_bin.parts[-3:] == ("pgserver", "pginstall", "bin")
    base = Path(tempfile.mkdtemp(prefix="ticketing-wheel-pg-"))
    base.chmod(0o755)
    # A copy in a directory anyone may enter: as root the server runs as another user, who
    # cannot enter a private checkout (CI clones into one); that case has its own test below.
    # The wheel's binaries find their libraries at $ORIGIN/../../../pgserver.libs.
    site = wheel_bin.parents[2]
    for part in ("pgserver", "pgserver.libs"):
        shutil.copytree(site / part, base / "site" / part)
    bin_dir = base / "site" / "pgserver" / "pginstall" / "bin"
    try:
        server = EmbeddedPostgres(base / "cluster", persistent=False, bin_dir=bin_dir)
        with server, psycopg.connect(server.url()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        assert row is not None
        assert row[0].startswith("16.")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to another user")
def test_binaries_the_server_user_cannot_reach_are_named(tmp_path: Path) -> None:
    private = Path(tempfile.mkdtemp(prefix="ticketing-private-bin-"))  # mode 0700
    shared = Path(tempfile.mkdtemp(prefix="ticketing-shared-data-"))
    shared.chmod(0o755)
    try:
        bin_dir = make_bin_dir(private / "bin")
        server = EmbeddedPostgres(shared / "cluster", persistent=False, bin_dir=bin_dir)
        with pytest.raises(EmbeddedPostgresError, match="PostgreSQL installation") as caught:
            server.start()
        assert str(private) in str(caught.value)
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)


def test_find_pg_bin_search_order(tmp_path: Path) -> None:
    newest_complete = make_bin_dir(tmp_path / "lib" / "15" / "bin")
    make_bin_dir(tmp_path / "lib" / "9" / "bin")
    client_only = make_bin_dir(tmp_path / "lib" / "16" / "bin", names=("initdb", "psql"))
    system_globs = (str(tmp_path / "lib" / "*" / "bin"),)
    assert find_pg_bin(env={}, pg_config=None, system_globs=system_globs) == newest_complete

    pg_config = tmp_path / "pg_config"
    pg_config.write_text(f"#!/bin/sh\necho {client_only}\n")
    pg_config.chmod(0o755)
    assert (
        find_pg_bin(env={}, pg_config=str(pg_config), system_globs=system_globs) == newest_complete
    )

    explicit = make_bin_dir(tmp_path / "explicit")
    pg_config.write_text(f"#!/bin/sh\necho {explicit}\n")
    assert find_pg_bin(env={}, pg_config=str(pg_config), system_globs=()) == explicit
    other = make_bin_dir(tmp_path / "other")
    assert (
        find_pg_bin(env={"PG_BIN": str(other)}, pg_config=str(pg_config), system_globs=()) == other
    )


def test_server_stops_when_its_parent_is_killed(base_dir: Path) -> None:
    data_dir = base_dir / "orphan"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    pid: int | None = None
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip().isdigit()
        pid = postmaster_pid(data_dir)
        assert process_alive(pid)

        child.send_signal(signal.SIGKILL)
        child.wait()

        assert wait_until(lambda: not process_alive(pid))
        assert not (data_dir / "postmaster.pid").exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if pid is not None and process_alive(pid):
            os.kill(pid, signal.SIGKILL)
