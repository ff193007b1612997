"""The demo portal as a separate process (``python -m demo_portal``, or
``python -m bench.national_portal`` for the national data), so that its
serving work and memory are not counted in the pipeline's, with its clock set over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

LISTENING = re.compile(r"listening on (http://\S+)")
DATASET_LINE = re.compile(r"(\d+) units, (\d+) tasks, (\d+) submission versions")


class PortalProcess:
    """``with PortalProcess(token, log, national=True) as portal: portal.set_clock(...)``."""

    def __init__(
        self,
        token: str,
        log_path: Path,
        national: bool = False,
        provinces: list[str] | None = None,
        cwd: Path | None = None,
        first_period: str | None = None,
        active_from: str | None = None,
    ) -> None:
        self.token = token
        self.log_path = log_path
        module = "bench.national_portal" if national else "demo_portal"
        command = [sys.executable, "-m", module, "--port", "0", "--token", token]
        if national:
            if provinces:
                command += ["--provinces", ",".join(provinces)]
            if first_period:
                command += ["--first-period", first_period]
            if active_from:
                command += ["--active-from", active_from]
        elif provinces:
            command += ["--province", provinces[0]]
        self.command = command
        self.cwd = cwd
        self.url = ""
        self.ready_seconds = 0.0
        self.dataset: dict[str, int] = {}
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 600.0) -> PortalProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        self._stderr = self.log_path.open("w", encoding="utf-8")
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=self.cwd
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line and self._process.poll() is not None:
                raise RuntimeError(f"the demo portal exited; see {self.log_path}")
            match = LISTENING.search(line)
            if match:
                self.url = match.group(1)
                break
        else:
            self.stop()
            raise RuntimeError(f"the demo portal did not start within {timeout:.0f}s; see {self.log_path}")
        self.ready_seconds = round(time.perf_counter() - started, 3)
        self._stderr.flush()
        found = DATASET_LINE.search(self.log_path.read_text(encoding="utf-8"))
        if found:
            self.dataset = dict(zip(("units", "tasks", "versions"), map(int, found.groups()), strict=True))
        return self

    def set_clock(self, now: str | None) -> None:
        """Serve only versions with ``updated_at <= now`` (None: everything)."""
        request = urllib.request.Request(
            f"{self.url}/_demo/control",
            data=json.dumps({"now": now}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status != 200:
                raise RuntimeError(f"the portal refused the clock {now}: HTTP {response.status}")

    def connection(self) -> str:
        """The value of ``AIRFLOW_CONN_COMMUNE_PORTAL`` for this portal."""
        return json.dumps({"conn_type": "http", "host": self.url, "password": self.token})

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()

    def __enter__(self) -> PortalProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
