"""Where a request's time goes: the product lists, profiled in this process as they are served.

The shop runs in this process on a throwaway native stack with the demo catalog, every
middleware on, and answers ``--requests`` requests of each list one after another, as the demo
customer (its API token), under the interface the deploy files serve it with: the DRF list
through the WSGI application (``fashionistar.project.wsgi``), called from this thread as a WSGI
server's worker calls it, once with the catalog cache and once without it
(``CATALOG_CACHE_S=0``), beside bare Django's list (:mod:`bare_django`: the same rows, no
middleware, a plain view) through a WSGI handler; the Ninja list through the ASGI application
(``fashionistar.project.asgi``) on an event loop. A sampler reads the stack of every thread
every millisecond of wall time (a SIGALRM handler, :class:`Sampler`) and counts where each busy
thread is:

- by **layer**: the innermost frame that belongs to a known layer decides (a frame of
  ``django.utils`` or of the standard library is passed over for its caller): database
  queries, cache and throttles (Redis), serialization and rendering, middleware, logging,
  Django's request handling, thread hops (asgiref, and the worker thread waking the event loop
  up with its result), the view code, other;
- by **package**: the package of the innermost frame itself.

A thread waiting for another (an idle worker thread, the event loop waiting for a thread's
result) is not busy and is not counted; a thread waiting on a socket (PostgreSQL, Redis) is,
under the layer that waits. Each reading counts one busy thread (:func:`pick`), so that the
readings add up to wall time. Milliseconds per request are each share of the request's wall
time with the sampler on; the wall time without it is shown too.

Why a sampler and not cProfile: under ASGI, Django runs sync middleware and ORM calls in other
threads (``sync_to_async``). Since Python 3.12 cProfile is one profiler for the whole
interpreter (PEP 669): it records every thread's calls on one stack, and a second profiler
cannot be enabled beside it, so it cannot follow a request across threads.

Usage::

    uv run python benchmarks/profile_request.py [--requests 2000] [--quick] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from common import Watch, prepared_stack
from report import fmt, table

DRF_LIST = "/api/sync/catalog/products"
NINJA_LIST = "/api/async/catalog/products"
BARE_LIST = "/bare/products"


@dataclass(frozen=True)
class Target:
    """A list to profile, and how it is served.

    Attributes:
        name: The tables' column.
        path: The URL path.
        interface: ``wsgi`` or ``asgi``, as the deploy files serve the path.
        settings: Settings changed for it: the catalog cache off, or bare Django (no middleware,
            :mod:`bare_django`'s URLs), whose application is then built with them.
    """

    name: str
    path: str
    interface: str
    settings: dict[str, Any] = field(default_factory=dict)


UNCACHED = {"CATALOG_CACHE_S": 0}
BARE = {"MIDDLEWARE": [], "ROOT_URLCONF": "bare_django"}
TARGETS = (
    Target("DRF list (WSGI)", DRF_LIST, "wsgi"),
    Target("DRF list, no cache (WSGI)", DRF_LIST, "wsgi", UNCACHED),
    Target("bare Django's list (WSGI)", BARE_LIST, "wsgi", BARE),
    Target("Ninja list (ASGI)", NINJA_LIST, "asgi"),
)
INTERVAL_S = 0.001
WARMUP = 20
"""Unmeasured requests of each list first: imports, the pool's connections, the catalog cache."""
TOP_PACKAGES = 12

DATABASE = "database queries (Django's ORM, psycopg)"
REDIS = "cache and throttles (Redis)"
SERIALIZATION = "serialization and rendering"
MIDDLEWARE = "middleware (Django's and the shop's)"
LOGGING = "logging"
HANDLING = "Django's request handling (handlers, URL routing)"
HOPS = "thread hops (asgiref, handing results back)"
VIEW = "view code (DRF, Ninja, the shop's views and selectors)"
OTHER = "other (event loop, this script's driver)"
LAYERS = [DATABASE, REDIS, SERIALIZATION, MIDDLEWARE, LOGGING, HANDLING, HOPS, VIEW, OTHER]

RULES = {
    "django.db": DATABASE,
    "psycopg": DATABASE,
    "psycopg_pool": DATABASE,
    "redis": REDIS,
    "django.core.cache": REDIS,
    "fashionistar.observability.cache": REDIS,
    "fashionistar.kernel.redis_client": REDIS,
    "fashionistar.kernel.counters": REDIS,
    "rest_framework.throttling": REDIS,
    "rest_framework.serializers": SERIALIZATION,
    "rest_framework.fields": SERIALIZATION,
    "rest_framework.relations": SERIALIZATION,
    "rest_framework.renderers": SERIALIZATION,
    "rest_framework.utils": SERIALIZATION,
    "rest_framework.response": SERIALIZATION,
    "ninja.schema": SERIALIZATION,
    "ninja.responses": SERIALIZATION,
    "ninja.renderers": SERIALIZATION,
    "ninja.signature": SERIALIZATION,
    "ninja.params": SERIALIZATION,
    "pydantic": SERIALIZATION,
    "json": SERIALIZATION,
    "django.core.serializers": SERIALIZATION,
    "django.middleware": MIDDLEWARE,
    "django.contrib.sessions": MIDDLEWARE,
    "django.contrib.messages": MIDDLEWARE,
    "django.contrib.auth.middleware": MIDDLEWARE,
    "django.utils.deprecation": MIDDLEWARE,  # MiddlewareMixin
    "fashionistar.kernel.middleware": MIDDLEWARE,
    "fashionistar.observability": MIDDLEWARE,
    "fashionistar.audit": MIDDLEWARE,
    "prometheus_client": MIDDLEWARE,
    "logging": LOGGING,
    "fashionistar.observability.logging": LOGGING,
    "django.core.handlers": HANDLING,
    "django.urls": HANDLING,
    "django.http": HANDLING,
    "django.core.signals": HANDLING,
    "fashionistar.project": HANDLING,
    "asgiref": HOPS,
    "concurrent.futures": HOPS,  # the worker thread handing its result back
    "rest_framework": VIEW,
    "ninja": VIEW,
    "django.contrib.auth": VIEW,
    "fashionistar": VIEW,
    "bare_django": VIEW,
}
"""Module prefix to layer; the longest prefix wins."""
FUNCTIONS = {
    "_write_to_self": HOPS,  # a thread wakes the event loop up to hand a result back
    "_read_from_self": HOPS,  # the event loop woken up
    "call_soon_threadsafe": HOPS,
}
"""Function name to layer, for the frames whose module says too little."""
PASS_OVER = (
    "django.utils",
    "django.conf",
    "django.dispatch",
    "django.apps",
    "asyncio",
    "threading",
    "queue",
    "selectors",
    "functools",
    "contextlib",
    "contextvars",
    "copy",
    "re",
    "typing",
    "abc",
    "collections",
    "inspect",
    "enum",
    "weakref",
    "datetime",
    "uuid",
    "decimal",
    "socket",
    "ssl",
    "encodings",
)
"""Modules whose frames do work for their caller: the caller's layer counts."""
IDLE = {
    ("threading.py", "wait"),
    ("threading.py", "_wait_for_tstate_lock"),
    ("queue.py", "get"),
    ("selectors.py", "select"),
    ("current_thread_executor.py", "run_until_future"),
    ("thread.py", "_worker"),  # concurrent.futures: waits in SimpleQueue.get, C code
}
"""(file name, function) of an innermost frame that waits for another thread of this process."""


def layer_of(module: str) -> str | None:
    """The layer a module belongs to, by its longest matching prefix in :data:`RULES`.

    Args:
        module: A dotted module name.

    Returns:
        The layer, or ``None`` for a module passed over (:data:`PASS_OVER`) or unknown.
    """
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in RULES:
            return RULES[prefix]
        if prefix in PASS_OVER:
            return None
    return None


def package_of(module: str) -> str:
    """The package a module is shown under: two levels for Django, DRF, Ninja and the shop.

    Args:
        module: A dotted module name.

    Returns:
        ``django.db``, ``rest_framework.serializers``, ``psycopg``, ``json``...
    """
    parts = module.split(".")
    deep = parts[0] in {"django", "rest_framework", "ninja", "fashionistar"}
    return ".".join(parts[: 2 if deep else 1])


@dataclass(frozen=True)
class Frame:
    """What the sampler keeps of a frame.

    Attributes:
        module: Its module's dotted name.
        file: Its file's name (no folder).
        function: Its function's qualified name.
    """

    module: str
    file: str
    function: str


def classify(frames: list[Frame]) -> tuple[str, str] | None:
    """Say where a thread's stack is busy, or that it only waits for another thread.

    Args:
        frames: Innermost first.

    Returns:
        ``(layer, package)``, or ``None`` for a thread that waits (:data:`IDLE`).
    """
    if not frames or (frames[0].file, frames[0].function.rsplit(".", 1)[-1]) in IDLE:
        return None
    layer = next((found for frame in frames if (found := _frame_layer(frame)) is not None), OTHER)
    return layer, package_of(frames[0].module)


def _frame_layer(frame: Frame) -> str | None:
    name = frame.function.rsplit(".", 1)[-1]
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    if "throttl" in frame.function.lower():
        return REDIS
    return layer_of(frame.module)


def pick(busy: list[tuple[str, str]]) -> tuple[str, str]:
    """Choose the one busy thread a reading counts, so that readings add up to wall time.

    One request runs one step at a time, but a thread handing work over and the thread taking
    it (or one waiting for the GIL) can both look busy for an instant: the one in a layer of
    its own wins over a thread hop, which wins over the event loop.

    Args:
        busy: ``(layer, package)`` of each busy thread (not empty).

    Returns:
        The one to count.
    """
    return min(busy, key=lambda where: {HOPS: 1, OTHER: 2}.get(where[0], 0))


@dataclass
class Sampler:
    """Reads every thread's stack every ``interval`` seconds of wall time while running.

    A timer (``setitimer(ITIMER_REAL)``) sends this process SIGALRM; Python runs the handler
    in the main thread, between two bytecodes or while a system call of it waits (the call is
    resumed after), wherever the request is. A sampling thread would not do: it runs only when
    it gets the GIL, which the request's thread gives up above all when it waits on a socket,
    so its readings would pile up on Redis and PostgreSQL.

    Attributes:
        interval: Seconds between two readings.
        counts: Samples by (layer, package).
        modules: Module name by file, cached.
    """

    interval: float = INTERVAL_S
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    modules: dict[str, str] = field(default_factory=dict)
    _previous: Any = None

    def _module(self, frame: FrameType) -> str:
        file = frame.f_code.co_filename
        if file not in self.modules:
            self.modules[file] = str(frame.f_globals.get("__name__", file))
        return self.modules[file]

    def _frames(self, frame: FrameType | None) -> list[Frame]:
        frames = []
        while frame is not None:
            code = frame.f_code
            frames.append(
                Frame(self._module(frame), os.path.basename(code.co_filename), code.co_qualname)
            )
            frame = frame.f_back
        return frames

    def _read(self, signum: int, interrupted: FrameType | None) -> None:
        main = threading.main_thread().ident
        stacks = {**sys._current_frames(), main: interrupted}  # not this handler's own frame
        busy = [
            where
            for frame in stacks.values()
            if (where := classify(self._frames(frame))) is not None
        ]
        if busy:
            self.counts[pick(busy)] += 1

    def __enter__(self) -> Sampler:
        self._previous = signal.signal(signal.SIGALRM, self._read)
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)


async def asgi_get(application: Callable[..., Any], path: str, token: str) -> int:
    """Send one GET through an ASGI application, as an app server would.

    Args:
        application: The ASGI application.
        path: The path.
        token: The API token.

    Returns:
        The answer's status.
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Token {token}".encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    finished = asyncio.Event()
    body_sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await application(scope, receive, send)
    finished.set()
    return status


def wsgi_get(application: Callable[..., Any], path: str, token: str) -> int:
    """Send one GET through a WSGI application, as a WSGI server's worker thread would.

    Args:
        application: The WSGI application.
        path: The path.
        token: The API token.

    Returns:
        The answer's status.
    """
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Token {token}",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    body = application(environ, start_response)
    try:
        b"".join(body)
    finally:
        body.close()  # Django's request_finished, as a server's close() sends it
    return int(statuses[0].split()[0])


async def _asgi_requests(
    application: Callable[..., Any], path: str, token: str, count: int
) -> None:
    for _ in range(count):
        if (status := await asgi_get(application, path, token)) != 200:
            raise RuntimeError(f"{path} answered {status}")


def batch(target: Target, applications: dict[str, Any], token: str) -> Callable[[int], float]:
    """A function that sends ``count`` requests of a target one after another.

    Args:
        target: The list and its interface.
        applications: The WSGI and the ASGI application, by interface.
        token: The API token.

    Returns:
        It takes the count and returns the seconds they took; it raises ``RuntimeError`` when
        an answer is not 200.
    """
    application = applications[target.interface]

    def run(count: int) -> float:
        started = time.perf_counter()
        if target.interface == "asgi":
            asyncio.run(_asgi_requests(application, target.path, token, count))
        else:
            for _ in range(count):
                if (status := wsgi_get(application, target.path, token)) != 200:
                    raise RuntimeError(f"{target.path} answered {status}")
        return time.perf_counter() - started

    return run


def profile(send: Callable[[int], float], count: int) -> dict[str, Any]:
    """Time ``count`` requests without the sampler, then ``count`` with it.

    Args:
        send: :func:`batch`'s function.
        count: Requests of each run.

    Returns:
        ``{"requests", "ms_unprofiled", "ms_sampled", "samples": {(layer, package): n}}``.
    """
    send(WARMUP)
    plain = send(count)
    with Sampler() as sampler:
        sampled = send(count)
    return {
        "requests": count,
        "ms_unprofiled": 1000 * plain / count,
        "ms_sampled": 1000 * sampled / count,
        "samples": dict(sampler.counts),
    }


def shares(samples: dict[tuple[str, str], int], index: int) -> Counter[str]:
    """Add the samples up by layer (``index`` 0) or by package (``index`` 1).

    Args:
        samples: Samples by (layer, package).
        index: Which half of the key.

    Returns:
        Samples by layer or package.
    """
    totals: Counter[str] = Counter()
    for key, count in samples.items():
        totals[key[index]] += count
    return totals


def markdown(figures: dict[str, dict[str, Any]]) -> str:
    """The two tables: by layer and by package, ms per request and share, per list.

    Args:
        figures: By list, what :func:`profile` returned.

    Returns:
        Markdown.
    """
    by_layer = {name: shares(item["samples"], 0) for name, item in figures.items()}
    by_package = {name: shares(item["samples"], 1) for name, item in figures.items()}

    def cells(name: str, counts: Counter[str], key: str) -> list[str]:
        total = sum(counts.values())
        share = counts[key] / total if total else 0.0
        return [fmt(share * figures[name]["ms_sampled"], 2), f"{fmt(100 * share)}%"]

    header = ["where", *(f"{name}: {column}" for name in figures for column in ("ms", "share"))]
    layers = [
        [layer, *(cell for name in figures for cell in cells(name, by_layer[name], layer))]
        for layer in LAYERS
    ]
    totals = [
        "**the whole request**",
        *(
            cell
            for item in figures.values()
            for cell in (f"**{fmt(item['ms_sampled'], 2)}**", "100%")
        ),
    ]
    everywhere: Counter[str] = Counter()
    for counts in by_package.values():
        total = sum(counts.values())
        for package, count in counts.items():
            everywhere[package] += count / total if total else 0
    top = [package for package, _ in everywhere.most_common(TOP_PACKAGES)]
    grouped = {
        name: Counter({package: counts[package] for package in top})
        + Counter({"the rest": sum(v for k, v in counts.items() if k not in top)})
        for name, counts in by_package.items()
    }
    packages = [
        [
            "the rest" if package == "the rest" else f"`{package}`",
            *(cell for name in figures for cell in cells(name, grouped[name], package)),
        ]
        for package in [*top, "the rest"]
    ]
    plain = "; ".join(
        f"{name} {fmt(item['ms_unprofiled'], 2)} ms ({fmt(item['requests'], 0)} requests)"
        for name, item in figures.items()
    )
    return (
        "**By layer** (the innermost frame of a known layer)\n\n"
        + table(header, [*layers, totals])
        + "\n\n**By package** (the innermost frame itself)\n\n"
        + table(["package", *header[1:]], packages)
        + "\n\nMilliseconds per request: each share of the wall time per request with the "
        f"sampler on. Without it, per request: {plain}."
    )


@contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Send what is written to file descriptor 1 to ``/dev/null`` meanwhile.

    The shop logs a JSON line per request to standard output, as it does under its app server
    (the cost counts); the lines themselves are not wanted here.

    Yields:
        Nothing.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    """Profile the lists on a stack of their own; print the tables, write them when asked.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="of each list, per run")
    parser.add_argument("--quick", action="store_true", help="50 requests, no wait")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    count = 50 if args.quick else args.requests
    watch = Watch(wait=not args.quick)
    with prepared_stack(demo_stock=1000) as env, stdout_to_devnull():
        os.environ.update(env)
        import django

        django.setup()
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import override_settings
        from rest_framework.authtoken.models import Token

        from fashionistar.accounts.models import User
        from fashionistar.project.asgi import application as asgi_application
        from fashionistar.project.wsgi import application as wsgi_application
        from fashionistar_dev.demo import DEMO_USERNAME

        token, _ = Token.objects.get_or_create(user=User.objects.get(username=DEMO_USERNAME))
        applications = {"wsgi": wsgi_application, "asgi": asgi_application}
        figures = {}
        for target in TARGETS:
            with override_settings(**target.settings):
                served = dict(applications)
                if "MIDDLEWARE" in target.settings:  # a handler loads its middleware once
                    served["wsgi"] = WSGIHandler()
                figures[target.name] = profile(batch(target, served, token.key), count)
    text = f"{watch.taken_on()}\n\n{markdown(figures)}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
