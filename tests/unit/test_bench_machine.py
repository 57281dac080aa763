"""The bench names the machine it measured on: the working directory's file system, its journal and its cost
of creating a file."""

from __future__ import annotations

from deploy.disk import filesystem, journal
from tests.load.bench import file_create_ms, machine


def test_creating_files_is_timed_in_a_directory_removed_after(tmp_path):
    cost = file_create_ms(tmp_path, files=20)
    assert cost > 0
    assert list(tmp_path.iterdir()) == []


def test_the_machine_names_its_working_directory_and_file_system(tmp_path):
    run = tmp_path / "tongfang-bench-x"
    run.mkdir()
    described = machine(run)
    assert described["workdir"] == str(tmp_path.resolve())
    assert described["filesystem"] == filesystem(tmp_path)
    assert described["journal"] == journal(tmp_path)
    assert described["cpus"] >= 1
    assert described["memory_gib"] > 0
