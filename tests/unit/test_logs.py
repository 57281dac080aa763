"""Error logs carry the traceback as data but never a frame's local variables (a token, an ID number)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import structlog

from streams.logs import configure


@pytest.fixture
def restored() -> Iterator[None]:
    """structlog's defaults after the test: its configuration holds the captured stream, closed after."""
    yield
    structlog.reset_defaults()


def test_an_exception_is_logged_without_the_frames_locals(restored, capsys):
    configure("INFO")  # the services' configuration, writing to this test's captured stderr
    log = structlog.get_logger("tongfang.test")

    def authenticate(token: str) -> None:
        secret = token.upper()  # a local that must not reach the log
        raise ValueError(f"no such enterprise ({len(secret)} characters)")

    try:
        authenticate("bearer-token-4f1c9e")
    except ValueError:
        log.exception("auth_failed")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = orjson.loads(line)
    assert record["event"] == "auth_failed"
    assert record["exception"][0]["exc_type"] == "ValueError"
    assert record["exception"][0]["frames"]  # the traceback is there, as data
    assert "bearer-token-4f1c9e" not in line
    assert "BEARER-TOKEN-4F1C9E" not in line
