"""Headless Debian Chromium for report tests, driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read CDP commands from fd 3 and write replies and events
to fd 4 (NUL-separated JSON), so no port, no websocket library and no network is involved.
Every launch gets a fresh `--user-data-dir`. The page's console errors, uncaught exceptions and
every network request are recorded, so tests can assert "no errors, nothing fetched".

Fixture: `chromium` -> `Chromium` (skips the test when /usr/bin/chromium is missing;
`scripts/install-test-deps` installs it).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM_FLAGS", "Chromium", "Page", "find_chromium"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Belt and braces: nothing but loopback resolves, so a stray fetch fails instead of leaving the box.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for cand in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class CDPError(RuntimeError):
    pass


@dataclass
class Page:
    """One tab. Everything the page did is recorded in the lists below."""

    browser: Chromium
    session: str
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    loaded: threading.Event = field(default_factory=threading.Event)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def _event(self, method: str, p: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.exceptions.append(str(d.get("exception", {}).get("description") or d.get("text")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.console_errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            )
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.log_errors.append(f"{e.get('source')}: {e.get('text')} {e.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            self.requests.append(p.get("request", {}).get("url", ""))
        elif method == "Network.loadingFailed":
            self.failed_requests.append(str(p.get("errorText")))
        elif method == "Page.loadEventFired":
            self.loaded.set()

    @property
    def errors(self) -> list[str]:
        return self.exceptions + self.console_errors + self.log_errors

    def navigate(self, url: str, timeout: float = 60) -> None:
        self.loaded.clear()
        reply = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if reply.get("errorText"):
            raise CDPError(f"navigation failed: {reply['errorText']}")
        if not self.loaded.wait(timeout):
            raise CDPError(f"page did not finish loading within {timeout}s")

    def evaluate(self, expression: str, timeout: float = 60) -> Any:
        reply = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, timeout=timeout
        )
        if "exceptionDetails" in reply:
            raise CDPError(f"evaluation failed: {reply['exceptionDetails'].get('text')}")
        return reply.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30, interval: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CDPError(f"timed out waiting for {expression!r}")
            time.sleep(interval)

    def set_viewport(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def emulate_media(self, *, color_scheme: str | None = None, media: str = "") -> None:
        features = [{"name": "prefers-color-scheme", "value": color_scheme}] if color_scheme else []
        self.send("Emulation.setEmulatedMedia", {"media": media, "features": features})

    def screenshot(self, path: Path, *, full_page: bool = True, max_height: int = 12000) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics.get("contentSize")
            width = int(size["width"])
            height = min(int(size["height"]), max_height)
            params.update(
                captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
            )
        data = self.send("Page.captureScreenshot", params, timeout=120)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def press(self, key: str, code: str | None = None, text: str | None = None) -> None:
        base = {"key": key, "code": code or key, "windowsVirtualKeyCode": _VK.get(key, 0)}
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", **base, **({"text": text} if text else {})})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **base})


_VK = {"Tab": 9, "Enter": 13, " ": 32, "Escape": 27}


_BASH = shutil.which("bash") or "/bin/bash"


class Chromium:
    """A headless Chromium process with a fresh profile; `open(url)` returns a recorded `Page`."""

    def __init__(self, binary: str, *, extra_flags: tuple[str, ...] = ()) -> None:
        self.profile = tempfile.mkdtemp(prefix="bw-chromium-")
        cmd_r, cmd_w = os.pipe()  # we write commands, chromium reads fd 3
        ev_r, ev_w = os.pipe()  # chromium writes fd 4, we read

        # Chromium's ends go to fds 3 and 4 of the child via bash redirections (no preexec_fn, which is
        # unsafe with threads; dash cannot name fds above 9). Copy them above 9 first so the
        # redirections cannot clobber each other.
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(ev_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(ev_w)
        args = [
            binary,
            *CHROMIUM_FLAGS,
            *extra_flags,
            f"--user-data-dir={self.profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        shell = f'exec "$@" 3<&{child_r} 4>&{child_w} {child_r}<&- {child_w}>&-'
        self.stderr_path = Path(self.profile) / "chromium.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [_BASH, "-c", shell, "bash", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            pass_fds=(child_r, child_w),
        )
        os.close(child_r)
        os.close(child_w)
        self._w = os.fdopen(cmd_w, "wb", buffering=0)
        self._r = ev_r
        self._next = 0
        self._lock = threading.Lock()
        self._replies: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.version = self.send("Browser.getVersion", timeout=60)

    # -- protocol ------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 20)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if "id" in msg:
                    q = self._replies.get(msg["id"])
                    if q is not None:
                        q.put(msg)
                elif "method" in msg:
                    page = self._pages.get(msg.get("sessionId", ""))
                    if page is not None:
                        page._event(msg["method"], msg.get("params", {}))
        for q in list(self._replies.values()):
            q.put({"error": {"message": "chromium exited"}})

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        with self._lock:
            self._next += 1
            mid = self._next
            q: queue.Queue[dict[str, Any]] = queue.Queue()
            self._replies[mid] = q
            msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            try:
                self._w.write(json.dumps(msg).encode() + b"\0")
            except OSError as exc:
                self._replies.pop(mid, None)
                raise CDPError(f"{method}: chromium is gone ({exc}); stderr in {self.stderr_path}") from None
        try:
            reply = q.get(timeout=timeout)
        except queue.Empty:
            raise CDPError(f"{method}: no reply within {timeout}s") from None
        finally:
            self._replies.pop(mid, None)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')}")
        return dict(reply.get("result", {}))

    # -- pages -----------------------------------------------------------------------------------
    def new_page(self, *, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self._pages[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.set_viewport(width, height)
        return page

    def open(self, url: str, *, width: int = 1280, height: int = 900, timeout: float = 60) -> Page:
        page = self.new_page(width=width, height=height)
        page.navigate(url, timeout=timeout)
        return page

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=5)
                except CDPError:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            try:
                self._w.close()
            except OSError:
                pass
            self._stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def chromium() -> Iterator[Chromium]:
    """A fresh headless Chromium per test (own profile); closed afterwards."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (run scripts/install-test-deps)")
    browser = Chromium(binary)
    try:
        yield browser
    finally:
        browser.close()
