"""Embedded PostgreSQL: run the real server binaries as a child process of this program.

``EmbeddedPostgres`` creates a cluster with ``initdb`` when its data directory holds none, starts
``postgres`` in the foreground (not ``pg_ctl``, which daemonizes) and stops it again. The server
never outlives this process: ``stop()`` runs at exit, and on Linux the kernel sends the server
SIGINT (fast shutdown) when the thread that started it dies, even by SIGKILL.

Because that parent-death signal is tied to the *thread* that forked the server, call ``start()``
from a thread that lives as long as the server should, normally the main thread.
"""

from __future__ import annotations

import atexit
import errno
import functools
import glob
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, NamedTuple, Self
from urllib.parse import quote

import psycopg
from psycopg import sql

from ticketing.layout import shared_cluster_dir
from ticketing.procs import alive, free_port, parent_death_signal

PORT_ENV: Final = "TICKETING_PG_PORT"
PORT_FILE: Final = "ticketing-port"
LOG_FILE: Final = "postgres.log"
# Reachable by every user and kept across reboots, unlike /tmp on many systems.
SYSTEM_BIN_GLOBS: Final[tuple[str, ...]] = (
    "/usr/lib/postgresql/*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)
WHEEL_PACKAGE: Final = "pgserver"
INSTALL_HINT: Final = (
    "Install them (Debian/Ubuntu: `sudo apt-get install postgresql`; "
    "macOS: `brew install postgresql@16`) "
    "or set PG_BIN to the directory holding initdb and postgres."
)

_SERVER_BINARIES: Final = ("initdb", "postgres")
_SOCKET_PATH_MAX: Final = 107
_SOCKET_NAME_MAX: Final = len("/.s.PGSQL.65535")
_STOP_TIMEOUTS: Final[tuple[tuple[signal.Signals, float | None], ...]] = (
    (signal.SIGINT, 30.0),
    (signal.SIGQUIT, 5.0),
    (signal.SIGKILL, None),
)


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be set up, started or reached."""


class PostgresNotFound(EmbeddedPostgresError):
    """No PostgreSQL server binaries (initdb, postgres) were found."""


def find_pg_bin(
    *,
    env: Mapping[str, str] | None = None,
    pg_config: str | None = "pg_config",
    system_globs: Sequence[str] = SYSTEM_BIN_GLOBS,
    wheel_package: str | None = WHEEL_PACKAGE,
) -> Path:
    """Return the directory holding ``initdb`` and ``postgres``.

    Looks at ``PG_BIN`` in ``env`` (default ``os.environ``), then ``pg_config --bindir`` (skipped
    when ``pg_config`` is None), then ``system_globs``, newest version first, and last the
    binaries shipped in the ``pgserver`` wheel (a dev dependency), so that a machine without a
    system PostgreSQL still runs the project.
    """
    environ = os.environ if env is None else env
    explicit = environ.get("PG_BIN")
    if explicit:
        path = Path(explicit).expanduser()
        if _has_server_binaries(path):
            return path
        # A wrong explicit setting is an error rather than a reason to quietly pick another
        # installation, possibly of another major version.
        raise PostgresNotFound(
            f"PostgreSQL server binaries not found: PG_BIN={explicit} holds no initdb and "
            f"postgres. {INSTALL_HINT}"
        )
    if pg_config is not None:
        from_pg_config = _pg_config_bindir(pg_config, environ.get("PATH"))
        # Debian's /usr/bin/pg_config can come with the client packages alone and name a
        # directory without the server binaries.
        if from_pg_config is not None and _has_server_binaries(from_pg_config):
            return from_pg_config
    for pattern in system_globs:
        for match in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            if _has_server_binaries(Path(match)):
                return Path(match)
    wheel_bin = _wheel_bin(wheel_package)
    if wheel_bin is not None and _has_server_binaries(wheel_bin):
        return wheel_bin
    looked_at = ", ".join(
        ["PG_BIN", "pg_config --bindir", *system_globs, f"the {wheel_package} wheel"]
    )
    raise PostgresNotFound(
        f"PostgreSQL server binaries not found (looked at {looked_at}). {INSTALL_HINT}"
    )


def _wheel_bin(package: str | None) -> Path | None:
    if package is None:
        return None
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _has_server_binaries(directory: Path) -> bool:
    return all(
        (directory / name).is_file() and os.access(directory / name, os.X_OK)
        for name in _SERVER_BINARIES
    )


def _pg_config_bindir(pg_config: str, search_path: str | None) -> Path | None:
    executable = shutil.which(pg_config, path=search_path)
    if executable is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603 - runs pg_config found on PATH, no shell
            [executable, "--bindir"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    bindir = result.stdout.strip()
    if result.returncode != 0 or not bindir:
        return None
    return Path(bindir)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


class _RunAs(NamedTuple):
    name: str
    uid: int
    gid: int


def _unprivileged_user() -> _RunAs:
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(name, entry.pw_uid, entry.pw_gid)
    raise EmbeddedPostgresError(
        "PostgreSQL refuses to run as root and neither user 'postgres' nor 'nobody' exists "
        "to run it as. Create a 'postgres' user or run as an unprivileged user."
    )


@functools.cache
def _child_setup(run_as: _RunAs | None) -> Callable[[], None]:
    arm_death_signal = parent_death_signal(signal.SIGINT)

    def setup() -> None:
        if run_as is not None:
            os.setgid(run_as.gid)
            os.setgroups([])
            os.setuid(run_as.uid)
        # Armed after the credential change, which clears the parent-death signal.
        arm_death_signal()

    return setup


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[str, int]]:
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise EmbeddedPostgresError(f"Cannot resolve host {host!r}: {exc}") from exc
    return family, (str(address[0]), int(address[1]))


def _port_free(host: str, port: int) -> bool:
    family, address = _address(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # PostgreSQL sets SO_REUSEADDR too, so ports lingering in TIME_WAIT count as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise EmbeddedPostgresError(f"Cannot listen on {host}:{port}: {exc}") from exc
    return True


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _check_reachable(path: Path, run_as: _RunAs, what: str = "data directory") -> None:
    for parent in path.parents:
        info = parent.stat()
        if info.st_uid == run_as.uid:
            searchable = info.st_mode & stat.S_IXUSR
        elif info.st_gid == run_as.gid:
            searchable = info.st_mode & stat.S_IXGRP
        else:
            searchable = info.st_mode & stat.S_IXOTH
        if not searchable:
            raise EmbeddedPostgresError(
                f"PostgreSQL refuses to run as root, so it runs as user {run_as.name!r}, which "
                f"cannot reach {path}: {parent} is not searchable by that user. Use a {what} "
                f"elsewhere (e.g. under /var/tmp) or run `chmod o+x {parent}`."
            )


def cluster_dir(preferred: Path) -> Path:
    """Where a persistent cluster meant for ``preferred`` lives: there, unless this runs as root
    and the unprivileged user PostgreSQL runs as cannot reach it (a checkout in a 0700
    directory such as ``mktemp -d`` or ``/root``). Then it is ``/var/tmp/ticketing-<hash>/pg``,
    the hash naming the preferred path, so each checkout keeps its own cluster from run to run.
    """
    preferred = preferred.expanduser().absolute()
    if os.geteuid() != 0:
        return preferred
    run_as = _unprivileged_user()
    # Directories still to be made are made searchable; what exists must be already.
    nearest = next(parent for parent in preferred.parents if parent.exists())
    try:
        _check_reachable(nearest / "probe", run_as)
    except EmbeddedPostgresError:
        pass
    else:
        return preferred
    shared = shared_cluster_dir(preferred)
    home = shared.parent
    home.mkdir(mode=0o755, exist_ok=True)
    info = home.lstat()
    # /var/tmp is writable by everyone: use the directory only if it is ours, not a planted one.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise EmbeddedPostgresError(
            f"{home} exists but is not a directory owned by root and writable only by it; "
            f"remove it, or set DATABASE_URL to a PostgreSQL of your own."
        )
    return shared


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


class EmbeddedPostgres:
    """A PostgreSQL server run from the installed binaries, owned by this process.

    Persistent mode (the default) keeps the cluster in ``data_dir`` and remembers its port in
    ``data_dir/ticketing-port``, so the URL stays the same from run to run. Throwaway mode
    (``persistent=False``) trades durability for speed and deletes ``data_dir`` on ``stop()``.

    When running as root the server runs as the user ``postgres`` (or ``nobody``), which must be
    able to reach ``data_dir``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        persistent: bool = True,
        log: Callable[[str], None] | None = None,
        bin_dir: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535, not {port}")
        self._data_dir = Path(data_dir).expanduser().absolute()
        self._configured_port = port
        self._port = port
        self._host = host
        self._persistent = persistent
        self._log = log or _stderr_log
        self._bin_dir = bin_dir
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._temp_socket_dir: Path | None = None
        self._socket_dir_path: Path | None = None
        self._log_offset = 0

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def log_path(self) -> Path:
        return self._data_dir / LOG_FILE

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedPostgresError("The port is chosen by start(); it is not known yet.")
        return self._port

    @property
    def persistent(self) -> bool:
        return self._persistent

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """How the postmaster ended, once it has (``None`` while it runs or before it started)."""
        return self._proc.returncode if self._proc is not None else None

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self._proc.pid if self.is_running and self._proc is not None else None

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL of a database of this server: over its Unix socket once it has started
        (every statement over loopback TCP cost the data server a third of its CPU, the kernel
        waking PostgreSQL up), over TCP before."""
        name = quote(dbname, safe="")
        if self._socket_dir_path is not None:
            socket_dir = quote(str(self._socket_dir_path), safe="/")
            return f"postgresql://postgres@/{name}?host={socket_dir}&port={self.port}"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"postgresql://postgres@{host}:{self.port}/{name}"

    def start(self) -> None:
        """Create the cluster if needed, start the server and wait until it accepts connections.

        Call this from a long-lived thread (normally the main thread): on Linux the server gets
        SIGINT when the thread that started it exits.
        """
        if self.is_running:
            raise EmbeddedPostgresError(f"PostgreSQL in {self._data_dir} is already started.")
        bin_dir = self._bin_dir or find_pg_bin()
        self._bin_dir = bin_dir
        run_as = _unprivileged_user() if os.geteuid() == 0 else None
        if run_as is not None:
            # Binaries inside a private directory (a wheel in a root-only checkout) cannot be
            # run by the unprivileged user; say so rather than fail with EACCES from exec.
            _check_reachable(bin_dir / "postgres", run_as, "PostgreSQL installation (PG_BIN)")
        if not self._persistent and self._data_dir.exists() and any(self._data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"A throwaway cluster needs a new or empty directory, and it deletes it on stop; "
                f"{self._data_dir} is not empty."
            )
        try:
            self._refuse_if_already_running()
            self._port = self._choose_port()
            self._prepare_data_dir(run_as)
            if not (self._data_dir / "PG_VERSION").exists():
                self._initdb(bin_dir, run_as)
            self._spawn(bin_dir, run_as, self._port)
            self._wait_ready()
            if self._persistent:
                port_file = self._data_dir / PORT_FILE
                port_file.write_text(f"{self._port}\n")
                if run_as is not None:
                    os.chown(port_file, run_as.uid, run_as.gid)
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)

    def stop(self) -> None:
        """Shut the server down (fast shutdown) and, in throwaway mode, delete its directory."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None:
            for sig, timeout in _STOP_TIMEOUTS:
                if proc.poll() is not None:
                    break
                try:
                    proc.send_signal(sig)
                    proc.wait(timeout=timeout)
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._socket_dir_path = None
        if self._temp_socket_dir is not None:
            shutil.rmtree(self._temp_socket_dir, ignore_errors=True)
            self._temp_socket_dir = None
        if not self._persistent:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def create_database(self, name: str, template: str | None = None) -> None:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        """Drop the database if it exists, disconnecting its sessions."""
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(query)

    def _refuse_if_already_running(self) -> None:
        try:
            lines = (self._data_dir / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
            port = int(lines[3])
        except (OSError, IndexError, ValueError):
            return
        listen = lines[5].split(",")[0].strip() if len(lines) > 5 else ""
        host = self._host if listen in ("", "*", "0.0.0.0", "::") else listen
        if alive(pid) and _answers(host, port):
            raise EmbeddedPostgresError(
                f"PostgreSQL is already running on {self._data_dir} (pid {pid}, port {port}), "
                f"probably started by another run. Stop it (`kill -INT {pid}`) or use another "
                f"data directory."
            )

    def _choose_port(self) -> int:
        if self._configured_port is not None:
            port = self._configured_port
            if not _port_free(self._host, port):
                raise EmbeddedPostgresError(
                    f"Port {port} on {self._host} is already in use, so PostgreSQL cannot listen "
                    f"on it. Stop whatever uses it or choose another port with {PORT_ENV} "
                    f"(unset, a free port is picked)."
                )
            return port
        if self._persistent:
            remembered = self._remembered_port()
            if remembered is not None:
                if _port_free(self._host, remembered):
                    return remembered
                self._log(
                    f"Port {remembered}, used last time for {self._data_dir}, is taken now; "
                    f"PostgreSQL moves to another port."
                )
        return free_port(self._host)

    def _remembered_port(self) -> int | None:
        try:
            port = int((self._data_dir / PORT_FILE).read_text().strip())
        except (OSError, ValueError):
            return None
        return port if 0 < port < 65536 else None

    def _prepare_data_dir(self, run_as: _RunAs | None) -> None:
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if run_as is None:
            return
        if not (self._data_dir / "PG_VERSION").exists():
            os.chown(self._data_dir, run_as.uid, run_as.gid)
        _check_reachable(self._data_dir, run_as)

    def _initdb(self, bin_dir: Path, run_as: _RunAs | None) -> None:
        self._log(f"Creating PostgreSQL cluster in {self._data_dir} ...")
        command = [
            str(bin_dir / "initdb"),
            "-D",
            str(self._data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ]
        if not self._persistent:
            command.append("--no-sync")
        output = ""
        # C.UTF-8 is missing on some systems (older macOS); the C locale is the fallback.
        for locale in ("--locale=C.UTF-8", "--no-locale"):
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [*command, locale],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                cwd="/",
                preexec_fn=_child_setup(run_as),
                timeout=300,
                check=False,
            )
            if result.returncode == 0:
                return
            output = _tail(result.stdout + result.stderr)
        raise EmbeddedPostgresError(
            f"initdb failed to create a cluster in {self._data_dir}:\n{output}"
        )

    def _socket_dir(self, port: int, run_as: _RunAs | None) -> Path:
        candidate = self._data_dir
        fits = len(str(candidate)) + _SOCKET_NAME_MAX <= _SOCKET_PATH_MAX
        # unix_socket_directories is a comma-separated list with quoting; avoid needing it.
        plain = not any(char in str(candidate) for char in ",\"' \\")
        if fits and plain:
            return candidate
        temp = Path(tempfile.mkdtemp(prefix=f"tpg{port}-"))
        self._temp_socket_dir = temp
        if run_as is not None:
            os.chown(temp, run_as.uid, run_as.gid)
        return temp

    def _spawn(self, bin_dir: Path, run_as: _RunAs | None, port: int) -> None:
        socket_dir = self._socket_dir(port, run_as)
        self._socket_dir_path = socket_dir
        command = [
            str(bin_dir / "postgres"),
            "-D",
            str(self._data_dir),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={self._host}",
            "-c",
            f"unix_socket_directories={socket_dir}",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=128MB",
        ]
        if not self._persistent:
            command += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        with self.log_path.open("ab") as log_file:
            self._log_offset = log_file.tell()
            if run_as is not None:
                os.chown(self.log_path, run_as.uid, run_as.gid)
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd="/",
                preexec_fn=_child_setup(run_as),
            )

    def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + self._startup_timeout
        while True:
            code = proc.poll()
            if code is not None:
                raise EmbeddedPostgresError(
                    f"PostgreSQL exited with code {code} while starting. {self._log_tail()}"
                )
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last_error = exc
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"PostgreSQL did not accept connections within {self._startup_timeout:g} s "
                    f"({last_error}). {self._log_tail()}"
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_offset)
                text = log_file.read().decode(errors="replace")
        except OSError as exc:
            return f"Its log {self.log_path} cannot be read: {exc}"
        return f"Last lines of {self.log_path}:\n{_tail(text)}"
