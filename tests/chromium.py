"""Debian's headless Chromium for the report tests (``make test`` installs it): render a page,
take a screenshot or dump the DOM after its scripts ran, and read what it wrote to the console."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--enable-logging=stderr", "--log-level=0",
)


def _chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("Debian's chromium is not installed; `make test` installs it")
    pytest.skip("Debian's chromium is not installed (`make test` installs it)")


def run_chromium(page: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on ``page`` with a fresh profile, as the machine notes say."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True, text=True, timeout=180, check=False,
        )


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console: script errors and Content-Security-Policy refusals."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class _Elements(HTMLParser):
    """Collects the elements of a document by tag."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(document: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(document)
    return parser.tags
