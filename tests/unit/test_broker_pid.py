"""The local broker is stopped by PID only when the PID file still names our broker."""

from __future__ import annotations

import subprocess
import sys

from deploy.kafka_broker import KafkaBroker, _start_time


def test_a_pid_file_naming_another_process_stops_nothing(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        broker = KafkaBroker(tmp_path)
        broker.pid_file.write_text(f"{other.pid} {_start_time(other.pid)}")  # same PID and start: not Kafka
        broker.stop()
        assert other.poll() is None
        broker.pid_file.write_text(str(other.pid))  # the layout before start times were kept
        broker.stop()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
