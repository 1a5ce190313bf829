"""Free ports: distinct, bindable, and never from the range outgoing connections take theirs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fashionistar_dev import processes


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    first_ephemeral = int(processes.EPHEMERAL_RANGE.read_text().split()[0])
    ports = processes.free_ports(8)
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert processes.LOWEST_PORT <= port < first_ephemeral
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        free = processes.free_ports(1)[0]
        monkeypatch.setattr(processes, "_outside_ephemeral_range", lambda: [busy, free])
        assert processes.free_port() == free


def test_without_a_range_below_the_ephemeral_one_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    whole = tmp_path / "ip_local_port_range"
    whole.write_text(f"{processes.LOWEST_PORT}\t65535\n")
    monkeypatch.setattr(processes, "EPHEMERAL_RANGE", whole)
    assert processes._outside_ephemeral_range() == []
    assert processes.free_port() > 0
