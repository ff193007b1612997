"""Watched nights: `airflow dags test` of the real DAG mails a real SMTP server on loopback
(aiosmtpd) when a step fails, and when a night publishes with more failed units than the
threshold."""

from __future__ import annotations

import email
import json
import socket
from collections.abc import Iterator
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from demo_portal.server import start_demo_portal
from tests.conftest import DEMO_AS_OF, connection_json, run_night_cli

pytestmark = pytest.mark.e2e

DOWN_UNIT = "04792"


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


@pytest.fixture()
def inbox() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def _mail_env(port: int) -> dict[str, str]:
    return {
        "COMMUNE_NOTIFY_EMAILS": "ops@province.example, it@province.example",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                                                 "extra": {"disable_tls": True, "disable_ssl": True}}),
        "AIRFLOW__API__BASE_URL": "http://127.0.0.1:8080",
    }


def _text(message: Message) -> str:
    body = message.get_body(preferencelist=("html", "plain"))
    return body.get_content() if body is not None else ""


def test_a_failed_night_mails_the_night_the_step_and_the_run(inbox, tmp_path: Path):
    handler, port = inbox
    with socket.socket() as sock:  # a port nobody listens on: the portal is down
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = run_night_cli(DEMO_AS_OF, tmp_path / "warehouse",
                           connection_json(f"http://127.0.0.1:{closed}", "t"), _mail_env(port))
    assert result.returncode != 0, result.output[-3000:]
    assert len(handler.messages) == 1, result.output[-3000:]
    message = handler.messages[0]
    text = _text(message)
    print(f"\nSubject: {message['Subject']}\nTo: {message['To']}\n{text}")
    assert message["Subject"] == f"commune_nightly FAILED: night {DEMO_AS_OF}, step preflight"
    assert "ops@province.example" in message["To"] and "it@province.example" in message["To"]
    assert "PortalUnreachable" in text
    assert "http://127.0.0.1:8080/dags/commune_nightly/runs/" in text


def test_a_night_with_more_failed_units_than_the_threshold_mails_them(inbox, tmp_path: Path):
    handler, port = inbox
    portal = start_demo_portal(host="127.0.0.1", port=0, token="t", now="2025-09-22T01:00:00+07:00",
                               down_units=[DOWN_UNIT])
    try:
        result = run_night_cli(DEMO_AS_OF, tmp_path / "warehouse", connection_json(portal.url, "t"),
                               {**_mail_env(port), "COMMUNE_NOTIFY_FAILED_UNITS": "0",
                                "COMMUNE_MAX_ATTEMPTS": "2"})
    finally:
        portal.stop()
    assert result.returncode == 0, result.output[-3000:]
    assert len(handler.messages) == 1, result.output[-3000:]
    message = handler.messages[0]
    text = _text(message)
    print(f"\nSubject: {message['Subject']}\n{text}")
    assert message["Subject"] == f"commune_nightly: night {DEMO_AS_OF} published with 1 unit(s) not received"
    assert DOWN_UNIT in text and "/dags/commune_nightly/runs/" in text
