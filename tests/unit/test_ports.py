"""Ports handed to the services are outside the range outgoing connections draw from."""

from __future__ import annotations

import socket

import pytest

from deploy import kafka_broker
from deploy.kafka_broker import KafkaStartError, free_port, free_port_pair


def ephemeral() -> range:
    low, high = (int(bound) for bound in kafka_broker.EPHEMERAL_RANGE.read_text().split())
    return range(low, high + 1)


def test_ports_lie_outside_the_ephemeral_range_and_are_never_handed_out_twice():
    ports = [free_port() for _ in range(40)] + [free_port_pair() for _ in range(10)]
    assert len(set(ports)) == len(ports)
    assert not [port for port in ports if port in ephemeral()]


def test_a_pair_leaves_its_next_port_to_the_controller():
    port = free_port_pair()
    assert port + 1 not in {free_port() for _ in range(200)}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port + 1))


def test_a_port_in_use_is_skipped(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        taken = busy.getsockname()[1]
        monkeypatch.setattr(kafka_broker, "_listen_ports", lambda: range(taken, taken + 1))
        with pytest.raises(KafkaStartError, match=f"no free port on 127.0.0.1 in {taken}-{taken}"):
            free_port()
