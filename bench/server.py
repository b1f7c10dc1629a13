"""Run ``cds-service serve`` on a free loopback port; read its workers' memory from ``/proc``."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CDS_SERVICE = Path(sys.executable).with_name("cds-service")


class ServerDidNotStart(RuntimeError):
    """The service exited or did not answer ``/healthz`` in time; carries its log tail."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Memory:
    """Peak and current resident set sizes, MiB.

    Attributes:
        pid: the process.
        peak_mb: VmHWM, the high-water mark of the resident set (shared pages included).
        current_mb: VmRSS now.
        private_mb: the pages only this process holds now (not shared with the master).
        pss_mb: proportional set size now (shared pages divided among their sharers).
    """

    pid: int
    peak_mb: float
    current_mb: float
    private_mb: float | None = None
    pss_mb: float | None = None


def memory_of(pid: int) -> Memory | None:
    """Memory of ``pid`` from ``/proc``, or None if it is gone."""
    try:
        status = _fields(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    try:
        rollup = _fields(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except OSError:
        rollup = {}

    def mb(fields: dict[str, str], *names: str) -> float | None:
        if not all(name in fields for name in names):
            return None
        return sum(int(fields[name].split()[0]) for name in names) / 1024

    return Memory(pid, mb(status, "VmHWM") or 0.0, mb(status, "VmRSS") or 0.0,
                  mb(rollup, "Private_Clean", "Private_Dirty"), mb(rollup, "Pss"))


def _fields(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def children_of(pid: int) -> list[int]:
    """The pids whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the fields follow the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


class ServiceProcess:
    """``cds-service serve --port P`` with its default workers and threads."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServiceProcess:
        return self  # started explicitly, so that a failed start can be told apart

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def migrate(self) -> None:
        """Run ``cds-service migrate`` on the service's database, as a deployment does first.

        A service restarted on its database then starts without loading Alembic (about 10 MiB
        in every worker); without this step its first start would migrate in the master.

        Raises:
            ServerDidNotStart: the migration failed; carries its output.
        """
        done = subprocess.run([str(CDS_SERVICE), "migrate"], env=self._env, capture_output=True,
                              text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise ServerDidNotStart(f"cds-service migrate failed:\n{done.stdout}{done.stderr}")

    def start(self, timeout_s: float = 90.0) -> None:
        """Start the service and wait until ``/healthz`` answers and every worker is up.

        Raises:
            ServerDidNotStart: the process exited or did not become healthy in time.
        """
        log = self._log_path.open("wb")
        self._process = subprocess.Popen(
            [str(CDS_SERVICE), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self._env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        expected = int(self._env.get("CDS_WORKERS") or os.cpu_count() or 1)
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServerDidNotStart(self.log_tail())
            if self._healthy() and len(self.workers()) >= expected:
                return
            time.sleep(0.2)
        self.stop()
        raise ServerDidNotStart(f"no healthy answer within {timeout_s:g} s\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            connection.request("GET", "/healthz")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except OSError:
            return False

    def workers(self) -> list[int]:
        """The gunicorn worker pids (children of the master, which is the process started)."""
        return children_of(self.pid) if self._process is not None else []

    def worker_memory(self) -> list[Memory]:
        """Memory of each worker."""
        return [m for m in (memory_of(pid) for pid in self.workers()) if m is not None]

    def master_memory(self) -> Memory | None:
        """Memory of the gunicorn master."""
        return memory_of(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the service's output."""
        try:
            text = self._log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop gracefully (SIGTERM to the master this object started), then kill if needed."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
