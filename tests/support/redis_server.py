"""Pytest plugin: a real Redis from Debian's `redis-server` package on a free loopback port.

    def test_x(redis_server):
        redis_server.command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+get")   # as the default user
        url = redis_server.url("app", "pw")          # redis://app:pw@127.0.0.1:<port>/0
        redis_server.monitor_log()                    # every command the server received (MONITOR)

Session-scoped; the default user has the password `redis_server.password` (requirepass). Runs as
`nobody` when the tests run as root, with persistence off, in its own temp dir. Reusable by other areas.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from .server_proc import ServerDir, free_port, stop, wait_for

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer:
    def __init__(self) -> None:
        self.dir = ServerDir("blastwall-redis-")
        self.log = self.dir.path / "server.log"
        self.password = secrets.token_hex(16)
        self.port = 0
        self.proc: Any = None
        self._monitor: list[str] = []
        self._mon_thread: threading.Thread | None = None

    def start(self) -> RedisServer:
        from pathlib import Path

        if not Path(REDIS_SERVER).exists():
            pytest.fail("redis-server not installed: run scripts/install-test-deps (Debian redis-server)")
        self.port = free_port()
        conf = self.dir.path / "redis.conf"
        conf.write_text(
            f'port {self.port}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir {self.dir.path}\n'
            f"requirepass {self.password}\ndaemonize no\n"
        )
        if self.dir.as_root:
            import os

            os.chown(conf, self.dir.uid, self.dir.gid)
            os.chmod(conf, 0o600)
        self.proc = self.dir.popen([REDIS_SERVER, str(conf)], self.log)
        wait_for(lambda: bool(self.client().ping()), 30, "redis-server", self.proc, self.log)
        return self

    def client(self, **kw: Any) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5, **kw)

    def command(self, *args: Any) -> Any:
        with self.client() as c:
            return c.execute_command(*args)

    def url(self, user: str | None, password: str, db: int = 0) -> str:
        return f"redis://{quote(user or '', safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{db}"

    def start_monitor(self) -> None:
        """Record every command any client sends from now on (Redis MONITOR), in a background thread."""
        self._monitor.clear()
        ready = threading.Event()

        def run() -> None:
            c = self.client()
            with c.monitor() as m:
                ready.set()
                for ev in m.listen():
                    self._monitor.append(str(ev.get("command")))
                    if "blastwall-monitor-stop" in str(ev.get("command")):
                        return

        self._mon_thread = threading.Thread(target=run, daemon=True)
        self._mon_thread.start()
        ready.wait(5)

    def stop_monitor(self) -> list[str]:
        self.command("ECHO", "blastwall-monitor-stop")
        if self._mon_thread:
            self._mon_thread.join(5)
        return list(self._monitor)

    def stop(self) -> None:
        stop(self.proc)
        self.proc = None
        self.dir.remove()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.stop()
