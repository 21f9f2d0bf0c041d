"""Bounded waits: a cluster that cannot be reached ends the run within a minute with one line naming
the scheduler, before any work; SIGTERM during the wait ends it at once."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import write_recipe, write_tree

EXTRA = {"dask": "dask.distributed", "ray": "ray"}


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (its backlog takes them)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server
    server.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(cli, tmp_path, backend: str, address: str):
    started = time.monotonic()
    status, _, err = cli("--dataset", "folder", "--data-root", write_tree(tmp_path / "tree", per_class=6),
                         "--pipeline", write_recipe(tmp_path / "r.toml"), "--out", tmp_path / "out", "--no-progress",
                         "--backend", backend, "--scheduler", address, "--jobs", "2")
    return status, err, time.monotonic() - started


@pytest.mark.parametrize("backend", list(EXTRA))
def test_a_refused_scheduler_is_one_line_within_a_minute(backend, cli, tmp_path):
    pytest.importorskip(EXTRA[backend], reason=f"the {backend} extra is not installed")
    address = f"127.0.0.1:{_free_port()}"
    status, err, seconds = _run(cli, tmp_path, backend, address)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"--scheduler {address}: cannot reach the {backend} scheduler" in lines[0]
    assert "Connection refused" in lines[0]
    assert seconds < 60
    assert not (tmp_path / "out" / "table.csv").exists()


@pytest.mark.parametrize("backend", list(EXTRA))
def test_a_scheduler_that_never_answers_is_one_line_after_the_timeout(backend, cli, tmp_path, silent_server,
                                                                        monkeypatch):
    pytest.importorskip(EXTRA[backend], reason=f"the {backend} extra is not installed")
    monkeypatch.setenv("DISSIM_CONNECT_TIMEOUT", "3")
    address = f"127.0.0.1:{silent_server.getsockname()[1]}"
    status, err, seconds = _run(cli, tmp_path, backend, address)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"--scheduler {address}: no {backend} scheduler answered within 3 s" in lines[0]
    assert seconds < 60


def test_sigterm_during_the_wait_ends_the_run_and_its_client(silent_server, monkeypatch):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    from dissim.experiment.cluster import check_scheduler

    monkeypatch.setenv("DISSIM_CONNECT_TIMEOUT", "120")
    port = silent_server.getsockname()[1]

    def not_ours(signum, frame):
        raise AssertionError("SIGTERM reached the handler that was there before the wait")

    previous = signal.signal(signal.SIGTERM, not_ours)
    timer = threading.Timer(3, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(SystemExit) as stopped:
            check_scheduler("ray", f"127.0.0.1:{port}")  # Ray's client alone would wait forever
    finally:
        timer.cancel()
        assert signal.signal(signal.SIGTERM, previous) is not_ours  # the handler is put back
    assert stopped.value.code == 128 + signal.SIGTERM and time.monotonic() - started < 15
    time.sleep(0.5)
    left = [p for p in Path("/proc").glob("[0-9]*") if f"127.0.0.1:{port}" in _cmdline(p)]
    assert not left, "the client process outlived the wait"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
