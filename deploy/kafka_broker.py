"""A single-node Apache Kafka (KRaft) on loopback, from the official jars in deploy/kafka/lib.

`make kafka-jars` fetches the jars from Maven Central once; this module writes the broker's
configuration, formats its storage on first start, starts the JVM, waits until the broker answers
and stops it by PID. Used by `make run` and by the test fixtures, so both run the same broker.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
LIB_DIR = KAFKA_DIR / "lib"


class KafkaStartError(RuntimeError):
    pass


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _listen_ports() -> range:
    """Loopback ports below the kernel's ephemeral range.

    Outgoing connections (a client dialling Kafka) take their source port from the ephemeral range,
    the same range bind(0) draws from. A port found free there can be taken by such a connection
    before the service meant to listen on it has started; below the range it cannot.
    """
    try:
        low, high = (int(bound) for bound in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    below = range(max(10000, low - 12000), low)
    return below if len(below) >= 1000 else range(high + 1, 65536)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(pair: bool = False) -> int:
    """A free loopback port, never one this process handed out before; with `pair`, port + 1 is free too."""
    ports = _listen_ports()
    for port in random.sample(ports, min(len(ports), 500)):
        wanted = (port, port + 1) if pair else (port,)
        if _handed_out.intersection(wanted) or not all(map(_bindable, wanted)):
            continue
        _handed_out.update(wanted)
        return port
    raise KafkaStartError(f"no free port on 127.0.0.1 in {ports.start}-{ports.stop - 1}")


def free_port_pair() -> int:
    """A port p with p + 1 free too: the local broker's controller listens on the next port."""
    return free_port(pair=True)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class KafkaBroker:
    """One broker+controller node whose data lives under `data_dir`."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "768m"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    def _properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"log.dirs={self.data_dir / 'log'}",
                "num.partitions=4",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "message.max.bytes=8388608",
                "log.retention.hours=-1",
                "",
            ]
        )

    def _java(self, main: str, *args: str) -> list[str]:
        if not any(LIB_DIR.glob("kafka_2.13-*.jar")):
            raise KafkaStartError(f"no Kafka jars in {LIB_DIR}: run `make kafka-jars` first")
        return [
            "java",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            # The client compiler only: a local broker moves a few MB/s, far below what C1's code can
            # carry, and C2 compiling its hot paths took a core for the first minutes. Measured on
            # the bench's burst (100 000 events, a fresh broker each): the broker's CPU per event
            # 33 to 45 µs against 50 to 84; starting took 3.7 to 4.0 s of CPU against 6.2 to 6.5.
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
            "-cp",
            f"{LIB_DIR}/*",
            main,
            *args,
        ]

    def _format_storage(self, config: Path) -> None:
        if (self.data_dir / "log" / "meta.properties").exists():
            return
        cluster_id = _cluster_id()
        subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 90.0) -> KafkaBroker:
        for port in (self.port, self.controller_port):
            if _port_open(port):
                raise KafkaStartError(f"port {port} is already in use (another Kafka?); stop it or change the port")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(self._properties())
        self._format_storage(config)
        log = (self.data_dir / "kafka.log").open("ab")
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(config)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # its log segments hold every event: the owner's only
        )
        self.pid_file.write_text(f"{self.process.pid} {_start_time(self.process.pid)}")
        self.wait_ready(timeout)
        return self

    name = "kafka"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def tail(self, chars: int = 3000) -> str:
        log = self.data_dir / "kafka.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = (self.data_dir / "kafka.log").read_text(errors="replace")[-2000:]
                raise KafkaStartError(f"Kafka exited with {self.process.returncode}:\n{tail}")
            if _port_open(self.port) and self._metadata_ok():
                return
            time.sleep(0.3)
        raise KafkaStartError(f"Kafka did not answer on {self.bootstrap} within {timeout:.0f} s")

    def _metadata_ok(self) -> bool:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        except KafkaError:
            return False
        try:
            admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> None:
        pid = self._pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            if self.process is not None:
                self.process.poll()
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            if self.process is not None:
                self.process.wait(10)
        self.pid_file.unlink(missing_ok=True)
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL, timeout=10)

    def _pid(self) -> int | None:
        """Our broker's process: the one we started, or the one the PID file names if it is still
        that process (same start time, running kafka.Kafka on this directory's config) — never a
        process that took the number since, nor another stack's broker."""
        if self.process is not None:
            return self.process.pid
        if not self.pid_file.exists():
            return None
        pid_text, _, started = self.pid_file.read_text().strip().partition(" ")
        pid = int(pid_text)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None  # gone
        config = str(self.data_dir / "server.properties").encode()
        if b"kafka.Kafka" not in command or config not in command or started != _start_time(pid):
            return None
        return pid


def _start_time(pid: int) -> str:
    """When `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat); "" if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding, not starting with "-"
    (the storage tool would read such an id as an option)."""
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
