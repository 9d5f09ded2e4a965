"""A free TCP port on 127.0.0.1, for the test servers (S3, Prefect UI, queue API, hostile HTTP). A module of its
own so that tests import it by name; `from conftest import ...` resolves to whichever conftest loaded first."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
