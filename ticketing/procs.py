"""Child processes, the one way the stack (``ticketing run``), the tests and the benches run
servers: start with a log file and a parent-death signal, wait until ``/health`` answers, stop
(with whatever they started), restart with back-off; plus free ports and what is still running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    function.restype = ctypes.c_int
    return function


def parent_death_signal(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to send ``sig`` to the child when its parent dies,
    even by SIGKILL (Linux; elsewhere a no-op). Tied to the thread that forks the child, so start
    long-lived children from a long-lived thread."""
    prctl = _prctl()
    parent = os.getpid()

    def arm() -> None:
        if prctl is None:
            return
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0)
        if os.getppid() != parent:
            # The parent died before the signal was armed, so no signal will come.
            os._exit(1)

    return arm


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out for port 0: free now, for the caller's child to bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct free ports: each is held until all are picked, so none repeats."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probes = [socket.socket(family, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def listeners(port: int) -> list[str]:
    """The processes listening on TCP ``port`` (any address), as ``pid N (command line)``: for
    a message that says who holds a port. Linux only; elsewhere, or for another user's
    processes, nothing is found."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                # local address is HEXIP:HEXPORT; state 0A is LISTEN
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    sockets = {f"socket:[{inode}]" for inode in inodes}
    found: list[str] = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd") if sockets else ():
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in sockets for fd in fd_dir.iterdir()):
                pid = fd_dir.parent.name
                command = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                found.append(f"pid {pid} ({command.decode(errors='replace')})")
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs. A zombie does not: nothing reaps orphans in some containers."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


STOP_TIMEOUT = 10.0


class ChildFailed(RuntimeError):
    """A child exited, or did not answer ``/health`` in time; the message quotes its log."""


@dataclass
class Child:
    """One server run as ``python <argv>`` with its output appended to ``log``.

    ``health_url`` is polled by :func:`wait_healthy` (``None``: the child is up once started).
    Runs in ``cwd`` if given: a server started from a scratch directory does not read the
    checkout's ``.env``.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log: Path
    health_url: str | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def running(self) -> bool:
        """Whether it runs; a child that exited is reaped here, so no zombie lingers."""
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, *self.argv],
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # SIGTERM from the kernel when the starter dies, even by SIGKILL.
                preexec_fn=parent_death_signal(),
            )

    def healthy(self, client: httpx.Client) -> bool:
        if self.health_url is None:
            return self.running()
        try:
            return client.get(self.health_url).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 25) -> str:
        return f"--- {self.name} ({self.log}) ---\n{tail(self.log, lines)}"

    def kill(self) -> None:
        """SIGKILL, as a crash would, and reap it; ``start`` may then run it again."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    def stop(self, timeout: float = STOP_TIMEOUT) -> set[int]:
        """SIGTERM, wait, SIGKILL if it will not go, then SIGKILL whatever it had started;
        returns the processes it had below it."""
        proc = self.proc
        if proc is None:
            return set()
        below = descendants(proc.pid)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        for pid in below:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return below


def wait_healthy(children: Iterable[Child], timeout: float = 60.0) -> None:
    """Wait until every child answers ``/health``; :class:`ChildFailed` if one exits first or
    the time runs out."""
    deadline = time.monotonic() + timeout
    pending = list(children)
    everyone = list(pending)
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while pending:
            for child in everyone:
                if not child.running():
                    raise ChildFailed(
                        f"the {child.name} exited with status {child.returncode} while starting\n"
                        f"{child.log_tail()}"
                    )
            pending = [child for child in pending if not child.healthy(client)]
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(child.name for child in pending)
                tails = "\n".join(child.log_tail() for child in everyone)
                raise ChildFailed(f"{names} did not answer /health in {timeout:g} s\n{tails}")
            time.sleep(0.1)


def stop_all(children: Sequence[Child]) -> set[int]:
    """Stop the children, the last started first (servers before what they depend on)."""
    below: set[int] = set()
    for child in reversed(children):
        below |= child.stop()
    return below


class Restartable(Protocol):
    """What :class:`Supervisor` watches: a :class:`Child`, or the embedded PostgreSQL."""

    name: str

    def running(self) -> bool: ...

    def start(self) -> None: ...


@dataclass
class _Watch:
    member: Restartable
    failures: int = 0
    restart_at: float | None = None
    up_since: float = field(default_factory=time.monotonic)


@dataclass
class Supervisor:
    """Restarts members that died, each after its own back-off: ``base`` seconds after a first
    crash, doubling up to ``ceiling`` for a member that keeps crashing, and back to ``base``
    once it stayed up ``stable`` seconds. Call :meth:`check` periodically."""

    members: Sequence[Restartable]
    say: Callable[[str], None]
    base: float = 0.5
    ceiling: float = 30.0
    stable: float = 60.0
    _watches: list[_Watch] = field(init=False)

    def __post_init__(self) -> None:
        self._watches = [_Watch(member) for member in self.members]

    def delay(self, failures: int) -> float:
        return float(min(self.ceiling, self.base * 2 ** max(0, failures - 1)))

    def check(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for watch in self._watches:
            member = watch.member
            if watch.restart_at is None:
                if member.running():
                    if now - watch.up_since >= self.stable:
                        watch.failures = 0
                    continue
                watch.failures += 1
                watch.restart_at = now + self.delay(watch.failures)
                self.say(
                    f"==> The {member.name} stopped{_status(member)}; restarting it in "
                    f"{self.delay(watch.failures):g} s"
                )
            if now < watch.restart_at:
                continue
            try:
                member.start()
            except Exception as exc:  # any failure to start is retried, not the end of the stack
                watch.failures += 1
                watch.restart_at = now + self.delay(watch.failures)
                self.say(
                    f"    the {member.name} did not start ({exc}); trying again in "
                    f"{self.delay(watch.failures):g} s"
                )
                continue
            watch.restart_at = None
            watch.up_since = now
            self.say(f"    the {member.name} restarted")


def _status(member: Restartable) -> str:
    code = getattr(member, "returncode", None)
    if code is None:
        return ""
    if code < 0:
        return f" (killed by {signal.Signals(-code).name})"
    return f" (exit status {code})"
