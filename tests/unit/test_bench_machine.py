"""The bench names the machine it measured on: the working directory's file system, its journal and its cost
of creating a file; and it reads a process's CPU time, and sums the burst's per event."""

from __future__ import annotations

import os
import threading
import time

from deploy.disk import filesystem, journal
from tests.load.bench import cpu_per_event, cpu_seconds, file_create_ms, machine


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


def test_a_process_s_cpu_seconds_count_all_its_threads() -> None:
    """The paced runs report the worker's cores from these (its chDB threads included)."""

    def spin() -> None:
        until = time.thread_time() + 0.3
        while time.thread_time() < until:
            pass

    before, process_before = cpu_seconds(os.getpid()), time.process_time()
    thread = threading.Thread(target=spin)
    thread.start()
    thread.join()
    spent, process_spent = cpu_seconds(os.getpid()) - before, time.process_time() - process_before
    assert spent >= 0.25
    assert abs(spent - process_spent) < 0.05  # the kernel's ticks: 10 ms each


def test_the_burst_s_cpu_per_event_is_summed_into_the_rate_the_cores_allow() -> None:
    line = cpu_per_event({"ingest": 80.0, "worker": 140.0, "kafka": 30.0, "bench": 10.0}, cores=2)
    assert line == "worker 140, ingest 80, kafka 30, bench 10; sum 260 (at most 7,692 events/s on 2 cores)"
