"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe``.

Chromium reads commands from its file descriptor 3 and writes answers and events to its file
descriptor 4, one JSON message each, separated by a NUL byte: no WebSocket library is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)
ERROR_EVENTS = {"Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded"}


class Browser:
    """One headless Chromium with one page, driven over the pipe."""

    def __init__(self, process: subprocess.Popen[bytes], to_browser: int, from_browser: int):
        self.process = process
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=self.session)

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, "Chromium did not answer in time"
            ready, _, _ = select.select([self.from_browser], [], [], left)
            if ready:
                chunk = os.read(self.from_browser, 1 << 20)
                assert chunk, f"Chromium exited (code {self.process.poll()})"
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        return self.send_all([(method, params)], session=session)[0]

    def send_all(
        self, commands: list[tuple[str, dict[str, Any]]], *, session: str | None = None
    ) -> list[dict[str, Any]]:
        """Send several commands in one write and return their results, in the same order.

        One round trip instead of one per command; events that arrive meanwhile are kept.
        """
        sent: dict[int, str] = {}
        data = b""
        for method, params in commands:
            self.next_id += 1
            sent[self.next_id] = method
            command: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
            if session:
                command["sessionId"] = session
            data += json.dumps(command).encode() + b"\0"
        os.write(self.to_browser, data)
        results: dict[int, dict[str, Any]] = {}
        while len(results) < len(sent):
            message = self._read(timeout=30)
            if message.get("id") in sent:
                assert "error" not in message, f"{sent[message['id']]}: {message['error']}"
                results[message["id"]] = message["result"]
            else:
                self.events.append(message)
        return [results[id_] for id_ in sent]

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        """Wait for an event of the page (one already received counts)."""
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read(timeout=max(deadline - time.monotonic(), 0.01))
            if event.get("method") == method:
                return event
            self.events.append(event)

    def open(self, url: str) -> None:
        """Load a page and wait for its load event; earlier pages' events are dropped."""
        self.events = []
        self.send("Page.navigate", session=self.session, url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (promises awaited) and return its JSON value."""
        result = self.send(
            "Runtime.evaluate",
            session=self.session,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for since it was opened (documents, scripts, images...)."""
        self.send("Runtime.evaluate", session=self.session, expression="0")  # flush events
        return [
            event["params"]["request"]["url"]
            for event in self.events
            if event.get("method") == "Network.requestWillBeSent"
        ]

    def set_viewport(self, width: int, height: int, *, dark: bool = False) -> None:
        """Size the page like a screen, in the light or the dark colour scheme."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
        scheme = {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}
        self.send_all(
            [
                ("Emulation.setDeviceMetricsOverride", metrics),
                ("Emulation.setEmulatedMedia", {"features": [scheme]}),
            ],
            session=self.session,
        )

    def screenshot(self, path: Path) -> Path:
        """Save what the page shows now as a PNG (encoded for speed rather than size)."""
        data = self.send(
            "Page.captureScreenshot", session=self.session, format="png", optimizeForSpeed=True
        )["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def console_errors(self) -> list[str]:
        """Errors the page reported: uncaught exceptions, ``console.error``, failed loads."""
        self.send("Runtime.evaluate", session=self.session, expression="0")  # flush events
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method not in ERROR_EVENTS:
                continue
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                errors.append(json.dumps(params["args"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(f"{params['entry']['text']} {params['entry'].get('url', '')}")
        return errors


@contextmanager
def headless_chromium(binary: str, profile: Path) -> Iterator[Browser]:
    """Start Chromium with an empty profile and the DevTools pipe on its fds 3 and 4."""
    to_read, to_browser = os.pipe()  # Chromium reads commands from its fd 3
    from_browser, to_write = os.pipe()  # and writes messages to its fd 4

    def pipes_on_3_and_4() -> None:  # in the child, before exec
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_read, to_write)]
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        preexec_fn=pipes_on_3_and_4,
        close_fds=False,  # fds 3 and 4 must stay open; Python's own fds are not inheritable
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_read)
    os.close(to_write)
    try:
        yield Browser(process, to_browser, from_browser)
    finally:
        os.close(to_browser)
        os.close(from_browser)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
