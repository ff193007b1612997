"""Who hears about a night (``commune_dx.notifying``): the failed units of a night's pulls, the link
to a run, and no mail without recipients. The mails themselves, sent by real nights to a real SMTP
server, are checked in ``tests/e2e/test_failure_mail.py``."""

from __future__ import annotations

from commune_dx.notifying import failed_units, notify_failed_step, notify_failed_units, run_url


def test_failed_units_reads_the_mapped_pulls():
    pulled = [[{"unit_code": "1", "outcome": "ok"}], [{"unit_code": "2", "outcome": "failed"}], None]
    assert [u["unit_code"] for u in failed_units(pulled)] == ["2"]
    assert [u["unit_code"] for u in failed_units(pulled[1])] == ["2"]  # a single batch


def test_failed_units_keeps_every_failed_unit_of_every_batch_and_nothing_else():
    pulled = [[{"unit_code": "1", "outcome": "failed", "error": "HTTP 503"},
               {"unit_code": "2", "outcome": "ok"}],
              [{"unit_code": "3", "outcome": "failed"}, "not a result"], []]
    assert [u["unit_code"] for u in failed_units(pulled)] == ["1", "3"]
    assert failed_units(None) == [] and failed_units([]) == []


def test_the_run_link_quotes_the_run_id():
    url = run_url("commune_nightly", "manual__2025-09-22T01:00:00+07:00")
    assert url.startswith("http")
    assert url.endswith("/dags/commune_nightly/runs/manual__2025-09-22T01%3A00%3A00%2B07%3A00")


def test_without_recipients_no_mail_is_prepared(monkeypatch):
    """An empty context would fail at its first use: the callbacks return before reading it."""
    monkeypatch.setenv("COMMUNE_NOTIFY_EMAILS", " , ")
    assert notify_failed_step({}) is None
    assert notify_failed_units({}) is None
