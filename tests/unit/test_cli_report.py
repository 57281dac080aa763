"""`tongfang report` says what is wrong, never with a traceback: a bad date, or no stack running."""

from __future__ import annotations

from click.testing import CliRunner

from deploy.kafka_broker import free_port
from services.cli import main


def test_a_date_out_of_range_names_the_option(tmp_path):
    result = CliRunner().invoke(
        main, ["report", "--jurisdiction", "3301", "--date", "9999-12-31", "--output", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 2
    assert "--date" in result.output
    assert "between 2000 and 2100" in result.output
    assert "Traceback" not in result.output


def test_with_no_stack_running_it_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("TONGFANG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TONGFANG_WORKER_WEB_PORT", str(free_port()))
    result = CliRunner().invoke(
        main, ["report", "--jurisdiction", "3301", "--date", "2026-11-23", "--output", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 1
    assert "no worker answers" in result.output
    assert "is the stack running?" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "r.html").exists()
