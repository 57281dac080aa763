"""The local stack as processes: Kafka, the stream worker and the ingest API, each started,
waited for and stopped by PID. `make run` and the end-to-end tests both use it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from deploy.kafka_broker import KafkaBroker
from streams.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class ServiceError(RuntimeError):
    pass


PRIVATE = 0o077  # the umask of every process the stack starts: files readable by their owner only


@dataclass
class Service:
    """One of our Python processes, logging to `<data_dir>/logs/<name>.log`."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    health_url: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Service:
        self.log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=PRIVATE,  # tokens' digests, chDB's files, logs: the owner's only
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise ServiceError(f"{self.name} exited early; its log says:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise ServiceError(f"{self.name} not ready at {self.health_url} within {timeout:.0f} s:\n{self.tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL, timeout=10)

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


class StackLock:
    """`<data_dir>/stack.lock`, held (flock) by the process that runs the stack on that directory:
    a second `make run` on it stops before touching anything, and says who holds it. The kernel
    lets go of it when the holder exits, however it exits."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "stack.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ServiceError(
                f"a stack is already running on {self.path.parent} ({holder}); stop it (Ctrl-C in its terminal) "
                "or set TONGFANG_DATA_DIR and the ports for a second one"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclass
class LocalStack:
    settings: Settings
    broker: KafkaBroker | None = None
    services: dict[str, Service] = field(default_factory=dict)
    lock: StackLock | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, own_kafka: bool = True) -> LocalStack:
        """The stack for `settings`; with `own_kafka` it also runs the broker the settings point at."""
        broker = None
        if own_kafka:
            port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
            broker = KafkaBroker(settings.data_dir / "kafka", port=port, controller_port=port + 1)
        stack = cls(settings, broker)
        env = {**os.environ, **stack.environment()}
        logs = settings.data_dir / "logs"
        stack.services = {
            "worker": Service(
                "worker",
                "streams",
                env,
                logs / "worker.log",
                f"http://{settings.worker_web_host}:{settings.worker_web_port}/health",
            ),
            "notify": Service(
                "notify",
                "services.notify",
                env,
                logs / "notify.log",
                f"http://{settings.notify_host}:{settings.notify_port}/health",
            ),
            "regulator": Service(
                "regulator",
                "services.regulator",
                env,
                logs / "regulator.log",
                f"http://{settings.regulator_host}:{settings.regulator_port}/health",
            ),
            "ingest": Service(
                "ingest",
                "services.ingest",
                env,
                logs / "ingest.log",
                f"http://{settings.ingest_host}:{settings.ingest_port}/health",
            ),
        }
        return stack

    def environment(self) -> dict[str, str]:
        """The settings, as the variables that give a child process the same configuration."""
        values = self.settings.model_dump(mode="json", exclude_none=True)
        secrets = {
            "clickhouse_password": self.settings.clickhouse_password,
            "pseudonym_key": self.settings.pseudonym_key,
            "reader_password": self.settings.reader_password,
        }
        for name, secret in secrets.items():
            values[name] = secret.get_secret_value()
        return {f"TONGFANG_{name.upper()}": str(value) for name, value in values.items()}

    def start(self) -> LocalStack:
        """Start everything and wait until each answers; on failure stop what was started."""
        from streams.topics import ensure_topics

        self.settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.settings.data_dir.chmod(0o700)
        lock = StackLock(self.settings.data_dir)
        lock.acquire()  # before anything is started, or stopped: what runs there is another stack's
        self.lock = lock
        try:
            if self.broker is not None:
                self.broker.start()
            ensure_topics(self.settings)
            for service in self.services.values():
                service.start()
            for service in self.services.values():
                service.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop what this stack started (nothing, if it never held the directory's lock)."""
        if self.lock is None:
            return
        for service in reversed(self.services.values()):
            service.stop()
        if self.broker is not None:
            self.broker.stop()
        self.lock.release()
        self.lock = None

    def dead(self) -> list[Service | KafkaBroker]:
        """Our processes that have exited: Kafka (when the stack runs its own), then the services."""
        down: list[Service | KafkaBroker] = [self.broker] if self.broker and not self.broker.running else []
        return down + [service for service in self.services.values() if not service.running]

    def revive(self) -> list[tuple[str, int | None]]:
        """Start again each of our processes that has exited, and wait until it answers; return
        each one's name and exit code (a worker that found itself stalled exits with
        `streams.watchdog.EXIT_STALLED`)."""
        revived: list[tuple[str, int | None]] = []
        if self.broker is not None and not self.broker.running:
            revived.append(("kafka", self.broker.exit_code))
            self.broker.start()
        for service in self.dead():
            if not isinstance(service, Service):
                continue
            code = service.process.poll() if service.process is not None else None
            service.process = None
            service.start().wait_ready()
            revived.append((service.name, code))
        return revived
