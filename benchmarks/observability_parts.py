"""What each part of the observability costs a request: CPU time, part by part.

:mod:`observability_overhead` says how many requests/s all of it together costs; this script
says which part the cost comes from. The product list (from the catalog cache, as served) is
answered ``--requests`` times, one request after another, in a process of its own for each set-up:
DRF's through the WSGI application, or with ``--interface asgi`` Ninja's through the ASGI
application on an event loop, each as the deploy files serve it. Each process runs on the
production settings (:mod:`observability_overhead`'s modules, spans exported over OTLP/HTTP to
its collector, run here), with Prometheus' samples in shared files (``PROMETHEUS_MULTIPROC_DIR``,
new for each set-up) as the deploy files keep them:

- **off**: none of it (every set-up sends the production settings' CSP header, which is
  security, not observability);
- **as deployed**: JSON log lines, the request-id and metrics middleware, the metered cache and
  tracing with the deploy files' sampler (``deploy/k8s/configmap.yaml``);
- the same **without tracing** (no OTLP endpoint);
- the same **without tracing nor log lines** (``LOGGING = {}``);
- **no request traced** (the sampler's ratio at 0: every request pays the sampler's decision);
- **every request traced** (the sampler's ratio at 1).

The figure is the process's CPU time per request (every thread's: the log writer's and the
span exporter's count too), after a warm-up; the timed requests' log lines are written and
their spans exported before the clock stops. The set-ups run in turn in each round; the parts
are worked out from the medians of the rounds: tracing as deployed (as deployed, less without
tracing), one dropped request (no request traced, less without tracing), one traced request
(every request traced, less without tracing), the log lines
(without tracing, less without either), and the rest (without either, less off).

With ``--instructions`` the figure is instead the number of instructions the process runs per
request, counted by valgrind's callgrind (every thread's) in one round: a count that other work
on the machine does not change, where CPU time needs a quiet machine. The span exporter's timer
(``OTEL_BSP_SCHEDULE_DELAY``) and the log writer's (``_Writer.INTERVAL_S``) are put out of the
way: under callgrind the clock runs some fifty times slower for the program (more on a slower
machine), so each timer would fire that many times more often per request than under load. The
exporter would send a few spans at a time where a loaded server sends full batches of 512, and
the writer would wake up about once a line where a loaded server's writes dozens of lines each
time it wakes. Counted, the lines are written once, at the end; the spans go out in full batches
and the rest at the end. With every request traced, a thousand requests fill batches as a loaded
server does; as deployed, they fill one batch in part, so that count carries a little more of a
batch's fixed cost (the HTTP request) than a loaded server's does.

Usage::

    uv run python benchmarks/observability_parts.py [--requests 3000] [--rounds 3] [--quick]
        [--instructions] [--interface {wsgi,asgi}] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from common import HERE, ROOT, Watch, machine, prepared_stack
from observability_overhead import SETTINGS_OFF, SETTINGS_ON, otlp_collector, shipped_sampler
from report import fmt, table

SHIPPED_RATIO = shipped_sampler()["OTEL_TRACES_SAMPLER_ARG"]
ONE_IN = round(1 / float(SHIPPED_RATIO))
"""The deploy files trace one request in this many."""
OFF = "off"
DEPLOYED = f"as deployed (1 request in {ONE_IN} traced)"
UNTRACED = "as deployed, without tracing"
UNTRACED_UNLOGGED = "as deployed, without tracing nor log lines"
NONE_TRACED = "as deployed, no request traced"
ALL_TRACED = "as deployed, every request traced"


@dataclass(frozen=True)
class SetUp:
    """One configuration of the shop.

    Attributes:
        settings: The settings module's text.
        sampler_ratio: The share of requests traced; ``None``: no tracing at all.
    """

    settings: str
    sampler_ratio: str | None


SET_UPS = {
    OFF: SetUp(SETTINGS_OFF, None),
    DEPLOYED: SetUp(SETTINGS_ON, SHIPPED_RATIO),
    UNTRACED: SetUp(SETTINGS_ON, None),
    UNTRACED_UNLOGGED: SetUp(SETTINGS_ON + "LOGGING = {}\n", None),
    NONE_TRACED: SetUp(SETTINGS_ON, "0.0"),
    ALL_TRACED: SetUp(SETTINGS_ON, "1.0"),
}

CHILD = """
import asyncio, json, logging, os, subprocess, sys, time
import django

django.setup()
from opentelemetry import trace
from profile_request import DRF_LIST, NINJA_LIST, asgi_get, wsgi_get
from rest_framework.authtoken.models import Token

from fashionistar.accounts.models import User
from fashionistar_dev.demo import DEMO_USERNAME

counting = os.environ.get("PARTS_COUNTING") == "1"
callgrind = ["callgrind_control", str(os.getpid())]
if counting:  # see the module's docstring: the log writer's timer, as the span exporter's
    from fashionistar.observability.logging import _Writer

    _Writer.INTERVAL_S = 3600.0
token, _ = Token.objects.get_or_create(user=User.objects.get(username=DEMO_USERNAME))
if os.environ["PARTS_INTERFACE"] == "asgi":
    from fashionistar.project.asgi import application

    loop = asyncio.new_event_loop()

    def answer():
        return loop.run_until_complete(asgi_get(application, NINJA_LIST, token.key))
else:
    from fashionistar.project.wsgi import application

    def answer():
        return wsgi_get(application, DRF_LIST, token.key)


count = int(os.environ["PARTS_REQUESTS"])
warmup = int(os.environ["PARTS_WARMUP"])


def written_and_sent():
    for handler in logging.getLogger().handlers:
        handler.flush()  # the writer thread has written every line
    getattr(trace.get_tracer_provider(), "force_flush", lambda: None)()  # spans are sent


for _ in range(warmup):
    answer()
written_and_sent()  # the first export's set-up (imports, connection) is not counted
if counting:
    subprocess.run([*callgrind, "--instr=on"], check=True, stdout=subprocess.DEVNULL)
started = time.process_time()
for _ in range(count):
    if answer() != 200:
        raise SystemExit("the list did not answer 200")
written_and_sent()
cpu_ms = (time.process_time() - started) / count * 1000
if counting:
    subprocess.run([*callgrind, "--dump"], check=True, stdout=subprocess.DEVNULL)
with open(os.environ["PARTS_RESULT"], "w") as result:
    json.dump({"cpu_ms": cpu_ms}, result)
"""
"""Runs in each set-up's process: warm up, then time the requests."""


def cpu_ms_per_request(
    set_up: SetUp,
    *,
    env: dict[str, str],
    endpoint: str,
    folder: Path,
    requests: int,
    warmup: int | None = None,
    counting: bool = False,
    interface: str = "wsgi",
) -> float:
    """Answer the list ``requests`` times in a new process of the shop set up this way.

    Args:
        set_up: The configuration.
        env: The stack's environment.
        endpoint: The OTLP collector's URL.
        folder: Where to write the settings module and the result.
        requests: How many requests to time.
        warmup: How many requests to answer before, untimed: by default a tenth of
            ``requests``, at least 100 (20 counting, where each is slower).
        counting: Count the requests' instructions under callgrind instead (:data:`CALLGRIND`).
        interface: ``wsgi`` (DRF's list through the WSGI application) or ``asgi`` (Ninja's
            through the ASGI application).

    Returns:
        The process's CPU milliseconds per request (or, counting, instructions per request).
    """
    module = f"parts_settings_{hashlib.sha256(set_up.settings.encode()).hexdigest()[:12]}"
    (folder / f"{module}.py").write_text(set_up.settings)
    result = folder / "result.json"
    metrics = Path(tempfile.mkdtemp(prefix="metrics-", dir=folder))  # empty, as a pod starts
    child = {
        **{k: v for k, v in env.items() if not k.startswith("OTEL_")},
        "DJANGO_SETTINGS_MODULE": module,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(folder), str(HERE), str(ROOT / "src")]),
        "PARTS_REQUESTS": str(requests),
        "PARTS_WARMUP": str(
            max(20 if counting else 100, requests // 10) if warmup is None else warmup
        ),
        "PARTS_RESULT": str(result),
        "PARTS_INTERFACE": interface,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),  # as deployed: samples in shared files
    }
    if set_up.sampler_ratio is not None:
        child |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            **shipped_sampler(),
            "OTEL_TRACES_SAMPLER_ARG": set_up.sampler_ratio,
        }
    command = [sys.executable, "-c", CHILD]
    if counting:
        counts = folder / "callgrind.out"
        child |= {"PARTS_COUNTING": "1", "OTEL_BSP_SCHEDULE_DELAY": str(3_600_000)}
        valgrind_log = f"--log-file={folder / 'valgrind.log'}"  # its own lines, not the child's
        command = [*CALLGRIND, f"--callgrind-out-file={counts}", valgrind_log, *command]
    subprocess.run(command, env=child, check=True, stdout=subprocess.DEVNULL)
    if counting:
        return instructions_in(Path(f"{counts}.1")) / requests
    cpu_ms: float = json.loads(result.read_text())["cpu_ms"]
    return cpu_ms


CALLGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
"""Counting starts when the child asks (``callgrind_control --instr=on``), after its warm-up."""


def instructions_in(dump: Path) -> int:
    """Read the instructions counted in a callgrind dump (its ``summary``, or ``totals``, line).

    Args:
        dump: The file ``callgrind_control --dump`` wrote.

    Returns:
        The instructions counted, every thread's.

    Raises:
        ValueError: The file has no such line.
    """
    found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
    if found is None:
        raise ValueError(f"{dump} holds no instruction count")
    return int(found.group(1))


def parts(medians: dict[str, float]) -> dict[str, float]:
    """Work each part's cost out from the set-ups' medians.

    Args:
        medians: CPU milliseconds per request, by set-up.

    Returns:
        Milliseconds per request, by part.
    """
    return {
        "everything, as deployed": medians[DEPLOYED] - medians[OFF],
        f"tracing, as deployed (1 request in {ONE_IN})": medians[DEPLOYED] - medians[UNTRACED],
        "one dropped request": medians[NONE_TRACED] - medians[UNTRACED],
        "one traced request": medians[ALL_TRACED] - medians[UNTRACED],
        "the JSON log lines": medians[UNTRACED] - medians[UNTRACED_UNLOGGED],
        "the rest: request id, metrics, metered cache": (medians[UNTRACED_UNLOGGED] - medians[OFF]),
    }


SERVED = {
    "wsgi": "The DRF product list from the catalog cache, through the WSGI application",
    "asgi": "The Ninja product list from the catalog cache, through the ASGI application on an "
    "event loop",
}
"""What each ``--interface`` answers, as the tables' text says it."""

RATIOS = (1.0, 0.1, 0.05, 0.02, 0.01, 0.0)
"""The sampler ratios :func:`at_ratios` works the cost out for."""


def at_ratios(medians: dict[str, float]) -> dict[float, float]:
    """Work out what everything costs at other sampler ratios, from the set-ups' medians.

    At a ratio r every request pays for the sampler's decision (no request traced) and r of
    them for their spans (every request traced, less no request traced).

    Args:
        medians: CPU milliseconds (or instructions) per request, by set-up.

    Returns:
        The cost over off per request, by ratio (:data:`RATIOS` and the deploy files').
    """
    dropped = medians[NONE_TRACED] - medians[OFF]
    traced = medians[ALL_TRACED] - medians[NONE_TRACED]
    ratios = sorted({*RATIOS, float(SHIPPED_RATIO)}, reverse=True)
    return {ratio: dropped + ratio * traced for ratio in ratios}


def _one_in(ratio: float) -> str:
    if ratio == 0:
        return "none"
    if ratio == 1:
        return "every request"
    return f"1 in {round(1 / ratio)}"


def markdown(
    runs: dict[str, list[float]],
    *,
    requests: int,
    counting: bool = False,
    interface: str = "wsgi",
) -> str:
    """The set-ups' table and the parts' table.

    Args:
        runs: CPU milliseconds (or, counting, instructions) per request of each round, by set-up.
        requests: Requests per round.
        counting: Whether the figures are instruction counts.
        interface: ``wsgi`` or ``asgi``: which list, through which application.

    Returns:
        Markdown.
    """
    medians = {name: statistics.median(values) for name, values in runs.items()}
    unit, shown = (
        ("instructions per request", _thousands) if counting else ("CPU ms per request", _ms)
    )
    rounds = len(next(iter(runs.values())))

    def with_range(values: list[float]) -> str:
        median = shown(statistics.median(values))
        return median if rounds == 1 else f"{median} ({shown(min(values))} to {shown(max(values))})"

    set_ups = table(
        ["set-up", unit, "over off"],
        [
            [name, with_range(values), f"x{fmt(medians[name] / medians[OFF], 2)}"]
            for name, values in runs.items()
        ],
    )
    share = f"share of the list's {'instructions' if counting else 'CPU'} with it off"
    by_part = table(
        ["part", unit, share],
        [
            [name, shown(cost), f"{fmt(100 * cost / medians[OFF])}%"]
            for name, cost in parts(medians).items()
        ],
    )
    shipped = float(SHIPPED_RATIO)
    by_ratio = table(
        ["requests traced", f"everything, {unit}", share],
        [
            [
                _one_in(ratio) + (" (the deploy files)" if ratio == shipped else ""),
                shown(cost),
                f"{fmt(100 * cost / medians[OFF])}%",
            ]
            for ratio, cost in at_ratios(medians).items()
        ],
    )
    plural = "s" if rounds > 1 else ""
    how = (
        "instructions the whole process (every thread) ran per request, counted by valgrind's "
        "callgrind"
        if counting
        else "CPU time of the whole process (every thread) per request: the median of the "
        "rounds (lowest to highest)"
    )
    return (
        f"{set_ups}\n\n{by_part}\n\n{SERVED[interface]} in one process per set-up "
        f"(Prometheus' samples in shared files, as deployed), {requests:,} requests per round "
        f"after a warm-up, {rounds} round{plural}, their log lines written and spans sent; "
        f"{how}. The "
        f"parts are differences of {'those counts' if counting else 'those medians'}.\n\n"
        f"What everything would cost at other sampler ratios, worked out from the same "
        f"{'counts' if counting else 'medians'} (every request pays for the sampler's decision, "
        f"as with no request traced; the traced share pays for its spans, as with every request "
        f"traced), not measured at each ratio:\n\n{by_ratio}"
    )


def _ms(value: float) -> str:
    return fmt(value, 3)


def _thousands(value: float) -> str:
    return f"{fmt(value / 1000, 0)} k"


def counted_on(*, elapsed_s: float) -> str:
    """The first line of a file of instruction counts: when, on what, with which valgrind.

    Args:
        elapsed_s: How long the counting took.

    Returns:
        The sentence (no load figures: the counts do not depend on them).
    """
    about = machine()
    valgrind = subprocess.run(
        ["valgrind", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return (
        f"Counted {datetime.now(UTC).isoformat(timespec='seconds')} of commit {about['code']}, "
        f"in {elapsed_s:.0f} s on "
        f"{about['cores']} cores ({about['cpu']}), Python {about['python']}, {valgrind}; what "
        "else the machine runs does not change the counts."
    )


def main(argv: list[str] | None = None) -> int:
    """Measure each set-up in turn, round after round; print (and write) the tables.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, help="per set-up and round (3,000; counting 1,000)")
    parser.add_argument("--rounds", type=int, default=3, help="one when counting")
    parser.add_argument("--quick", action="store_true", help="a few requests, 1 round, no wait")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (valgrind's callgrind)"
    )
    parser.add_argument(
        "--interface",
        choices=sorted(SERVED),
        default="wsgi",
        help="DRF's list through the WSGI application (default) or Ninja's through the ASGI one",
    )
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    counting: bool = args.instructions
    if args.quick:
        requests = 20 if counting else 50
    else:
        requests = args.requests or (1000 if counting else 3000)
    rounds = 1 if args.quick or counting else args.rounds
    started = time.monotonic()
    watch = None if counting else Watch(wait=not args.quick)
    runs: dict[str, list[float]] = {name: [] for name in SET_UPS}
    with (
        prepared_stack(demo_stock=1000) as env,
        otlp_collector() as endpoint,
        tempfile.TemporaryDirectory(prefix="fashionistar-parts-") as folder,
    ):
        for _ in range(rounds):
            for name, set_up in SET_UPS.items():
                runs[name].append(
                    cpu_ms_per_request(
                        set_up,
                        env=env,
                        endpoint=endpoint,
                        folder=Path(folder),
                        requests=requests,
                        warmup=10 if args.quick else None,
                        counting=counting,
                        interface=args.interface,
                    )
                )
    first_line = (
        counted_on(elapsed_s=time.monotonic() - started) if watch is None else watch.taken_on()
    )
    tables = markdown(runs, requests=requests, counting=counting, interface=args.interface)
    text = f"{first_line}\n\n{tables}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
