"""moto in server mode: a real AWS-compatible HTTP endpoint on 127.0.0.1.

Fixtures
  * ``moto_server`` (session): a ``ThreadedMotoServer`` on 127.0.0.1, port chosen by the OS.
  * ``moto`` (function): the same server, reset before the test; gives ``.url``, ``.client(service)``
    and ``.env`` (what a provider context needs to point boto3 at it).
  * ``moto_auth_server`` (function): a *separate* moto process (``python -m moto.server``) with
    ``INITIAL_NO_AUTH_ACTION_COUNT`` so that IAM is really enforced after the setup requests. It is a
    subprocess because moto keeps that setting process-global.

The environment moto reads at import time is set here, before moto is imported.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"

__all__ = ["MotoHandle", "moto_server", "moto", "moto_auth_server", "start_moto_process"]

TEST_KEY_ID = "AKIAMOTOTESTSETUP000"  # moto accepts any key before auth is enforced
TEST_SECRET = "moto-setup-secret-not-a-real-one-0000000"


@dataclass
class MotoHandle:
    url: str
    region: str = "us-east-1"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.url}

    def client(
        self,
        service: str,
        region: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
    ) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            region_name=region or self.region,
            endpoint_url=self.url,
            aws_access_key_id=key or TEST_KEY_ID,
            aws_secret_access_key=secret or TEST_SECRET,
            aws_session_token=token,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60),
        )

    def reset(self) -> None:
        import urllib.request

        req = urllib.request.Request(self.url + "/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - 127.0.0.1 only
            resp.read()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoHandle]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log record per request is slow under pytest
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoHandle(url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: MotoHandle) -> MotoHandle:
    moto_server.reset()
    return moto_server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto_process(initial_no_auth_action_count: int) -> tuple[subprocess.Popen[bytes], MotoHandle]:
    port = _free_port()
    env = dict(os.environ)
    env.update(
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
        MOTO_EC2_LOAD_DEFAULT_AMIS="false",
        INITIAL_NO_AUTH_ACTION_COUNT=str(initial_no_auth_action_count),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    handle = MotoHandle(url=f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("moto server process exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto server process did not start")
    return proc, handle


@pytest.fixture
def moto_auth_server(request: pytest.FixtureRequest) -> Iterator[tuple[MotoHandle, Any]]:
    """A moto process that enforces IAM after a budget of unauthenticated setup requests.

    Yields ``(handle, enforce)``; call ``enforce()`` after setup to switch enforcement on at once
    (it resets the budget to 0 through moto's ``/moto-api/reset-auth``).
    """
    proc, handle = start_moto_process(initial_no_auth_action_count=1_000_000)

    def enforce() -> None:
        import urllib.request

        req = urllib.request.Request(
            handle.url + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - 127.0.0.1 only
            resp.read()

    try:
        yield handle, enforce
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
