"""Reaching an existing cluster (``--backend dask|ray --scheduler ADDRESS``) in bounded time.

Before any work, a child process connects to the scheduler with the backend's own client and
disconnects; it must succeed within ``DISSIM_CONNECT_TIMEOUT`` seconds (default 30), or the run
stops with one line naming the scheduler. Dask's and Ray's clients wait much longer (Ray forever)
on an address that does not answer, and block signals while they wait; the child is killed when
the time is up, or when the run itself gets SIGTERM.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import threading
from urllib.parse import urlsplit

from ..errors import UserError

TIMEOUT_ENV = "DISSIM_CONNECT_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
_CLIENTS = {
    "dask": "from dask.distributed import Client\nClient({address!r}, timeout={timeout!r}).close()\n",
    "ray": "import logging, ray\nray.init(address={address!r}, logging_level=logging.ERROR)\nray.shutdown()\n",
}


def connect_timeout() -> float:
    """Seconds a connection to a cluster may take: ``$DISSIM_CONNECT_TIMEOUT`` or 30."""
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 600):
        raise UserError(f"{TIMEOUT_ENV}={text!r}: give the seconds to wait for a cluster, a number in (0, 600]")
    return value


def check_scheduler(backend: str, address: str) -> float:
    """UserError naming ``address`` unless the ``backend``'s client connects to it in time; returns the timeout."""
    timeout = connect_timeout()
    host, port = _host_port(backend, address)
    if host is not None:  # a refused or unknown address: say so at once
        try:
            socket.create_connection((host, port), timeout=min(timeout, 10.0)).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__.replace("Error", " error").replace("timeout", "no answer")
            raise UserError(f"--scheduler {address}: cannot reach the {backend} scheduler at {host}:{port} "
                            f"({reason}); start it or fix the address") from None
    code = _CLIENTS[backend].format(address=address, timeout=timeout)
    status, error = _run_bounded([sys.executable, "-c", code], timeout)
    if status is None:
        raise UserError(f"--scheduler {address}: no {backend} scheduler answered within {timeout:g} s (something "
                        f"listens there but does not speak {backend}'s protocol); check the address, or set "
                        f"{TIMEOUT_ENV} to wait longer")
    if status != 0:
        last = next((line for line in reversed(error.strip().splitlines()) if line.strip()), "no message")
        raise UserError(f"--scheduler {address}: the {backend} client could not connect: {last.strip()}")
    return timeout


def _host_port(backend: str, address: str) -> tuple[str | None, int | None]:
    """The TCP host and port behind a scheduler address, or (None, None) where there is none to try
    (Ray's ``auto``/``local``, dask's ``inproc://`` and ``ucx://`` addresses)."""
    if backend == "ray" and address in ("auto", "local"):
        return None, None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls", "ws", "wss", "ray"):
        return None, None
    try:
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port == -1:
        raise UserError(f"--scheduler {address}: not an address of the form host:port")
    default = 8786 if backend == "dask" else 10001 if parts.scheme == "ray" else 6379
    return parts.hostname, port or default


def _run_bounded(command: list[str], timeout: float) -> tuple[int | None, str]:
    """(exit status or None when it ran out of time, its stderr); the child dies with the time, or with
    SIGTERM to this process (which then exits with status 143)."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None

    def stop(signum, frame):
        child.kill()
        raise SystemExit(128 + signum)

    if main:
        signal.signal(signal.SIGTERM, stop)
    try:
        _, error = child.communicate(timeout=timeout)
        return child.returncode, error
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return None, ""
    except BaseException:  # Ctrl-C, or the SIGTERM handler's exit: the child must not outlive the run
        child.kill()
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
