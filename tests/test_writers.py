"""SQLite takes one writer at a time: a command waits for another, a page answers 503."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="SQLite's single writer; PostgreSQL writers do not take the whole database",
)


class Installation:
    """A fresh SQLite installation driven as its users drive it: commands, a web client."""

    def __init__(self, folder: Path) -> None:
        self.database = folder / "db.sqlite3"
        self.folder = folder
        self.env = {
            **os.environ,
            "CYBERATLAS_DATABASE_URL": f"sqlite:///{self.database}",
            "CYBERATLAS_VAR_DIR": str(folder),
            "CYBERATLAS_SQLITE_WAIT": "1",
            "DJANGO_SETTINGS_MODULE": "cyberatlas.settings",
        }

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            input=stdin,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.folder,
        )

    def command(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = self.run("-m", "cyberatlas", *args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        return done

    def login_status(self) -> str:
        """The status and Retry-After of a login through the web stack (which writes)."""
        script = (
            "import django; django.setup()\n"
            "from django.test import Client\n"
            "c = Client(raise_request_exception=False, HTTP_HOST='127.0.0.1')\n"
            f"r = c.post('/login/', {{'username': 'alice', 'password': {PASSWORD!r}}})\n"
            "print(r.status_code, r.get('Retry-After'), b'database is busy' in r.content)\n"
        )
        done = self.run("-c", script)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def held(self, seconds: float) -> threading.Thread:
        """Another writer: a transaction holding SQLite's write lock for ``seconds``."""
        taken = threading.Event()

        def hold() -> None:
            writer = sqlite3.connect(self.database, isolation_level=None)
            writer.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            writer.execute("ROLLBACK")
            writer.close()

        thread = threading.Thread(target=hold)
        thread.start()
        assert taken.wait(10)
        return thread


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    found = Installation(tmp_path_factory.mktemp("writers"))
    found.command("migrate")
    found.command(
        "org", "add", "Bank", "--kind", "member", "--sector", "banking", "--country", "DE"
    )
    found.command("org", "vet", "Bank")
    found.command("user", "add", "alice", "--org", "Bank", "--role", "researcher", stdin=PASSWORD)
    found.command("user", "vet", "alice")
    return found


def test_an_import_waits_for_another_writer_says_so_and_then_writes(installation):
    report = installation.folder / "report.txt"
    report.write_text("The crew moved to pay-now[.]example[.]net last week.\n")
    holder = installation.held(7)  # longer than the 5 s SQLite waits by default
    started = time.monotonic()
    done = installation.command("import", str(report), "--as", "alice", "--tlp", "green")
    waited = time.monotonic() - started
    holder.join()
    assert "waiting for it to finish" in done.stderr
    assert waited >= 6
    assert "1 created" in done.stdout
    shown = installation.command("show", "domain-name:pay-now.example.net", "--as", "alice")
    assert "pay-now.example.net" in shown.stdout


def test_a_page_that_cannot_write_answers_503_and_works_once_the_writer_is_done(installation):
    holder = installation.held(8)  # longer than the 5 s SQLite waits by default
    try:
        assert installation.login_status() == "503 30 True"
    finally:
        holder.join()
    assert installation.login_status().startswith("302 ")
