"""What each part of the observability costs a request: CPU time, part by part.

:mod:`observability_overhead` says how many requests/s all of it together costs; this script
says which part the cost comes from. The DRF product list (from the catalog cache, as served)
is answered ``--requests`` times through the WSGI application, one request after another, in a
process of its own for each set-up, on the production settings (:mod:`observability_overhead`'s
modules, spans exported over OTLP/HTTP to its collector, run here):

- **off**: none of it;
- **as deployed**: JSON log lines, the request-id and metrics middleware, the metered cache, the
  CSP header, and tracing with the deploy files' sampler (``deploy/k8s/configmap.yaml``);
- the same **without tracing** (no OTLP endpoint);
- the same **without tracing nor log lines** (``LOGGING = {}``);
- **every request traced** (the sampler's ratio at 1).

The figure is the process's CPU time per request (every thread's: the log writer's and the
span exporter's count too), after a warm-up. The set-ups run in turn in each round; the parts
are worked out from the medians of the rounds: tracing as deployed (as deployed, less without
tracing), one traced request (every request traced, less without tracing), the log lines
(without tracing, less without either), and the rest (without either, less off).

Usage::

    uv run python benchmarks/observability_parts.py [--requests 3000] [--rounds 3] [--quick]
        [--markdown FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from common import HERE, ROOT, Watch, prepared_stack
from observability_overhead import SETTINGS_OFF, SETTINGS_ON, otlp_collector, shipped_sampler
from report import fmt, table

SHIPPED_RATIO = shipped_sampler()["OTEL_TRACES_SAMPLER_ARG"]
ONE_IN = round(1 / float(SHIPPED_RATIO))
"""The deploy files trace one request in this many."""
OFF = "off"
DEPLOYED = f"as deployed (1 request in {ONE_IN} traced)"
UNTRACED = "as deployed, without tracing"
UNTRACED_UNLOGGED = "as deployed, without tracing nor log lines"
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
    ALL_TRACED: SetUp(SETTINGS_ON, "1.0"),
}

CHILD = """
import json, os, sys, time
import django

django.setup()
from profile_request import DRF_LIST, wsgi_get
from rest_framework.authtoken.models import Token

from fashionistar.accounts.models import User
from fashionistar.project.wsgi import application
from fashionistar_dev.demo import DEMO_USERNAME

token, _ = Token.objects.get_or_create(user=User.objects.get(username=DEMO_USERNAME))
count = int(os.environ["PARTS_REQUESTS"])
for _ in range(max(100, count // 10)):
    wsgi_get(application, DRF_LIST, token.key)
started = time.process_time()
for _ in range(count):
    if wsgi_get(application, DRF_LIST, token.key) != 200:
        raise SystemExit("the list did not answer 200")
cpu_ms = (time.process_time() - started) / count * 1000
with open(os.environ["PARTS_RESULT"], "w") as result:
    json.dump({"cpu_ms": cpu_ms}, result)
"""
"""Runs in each set-up's process: warm up, then time the requests."""


def cpu_ms_per_request(
    set_up: SetUp, *, env: dict[str, str], endpoint: str, folder: Path, requests: int
) -> float:
    """Answer the list ``requests`` times in a new process of the shop set up this way.

    Args:
        set_up: The configuration.
        env: The stack's environment.
        endpoint: The OTLP collector's URL.
        folder: Where to write the settings module and the result.
        requests: How many requests to time.

    Returns:
        The process's CPU milliseconds per request.
    """
    module = f"parts_settings_{hashlib.sha256(set_up.settings.encode()).hexdigest()[:12]}"
    (folder / f"{module}.py").write_text(set_up.settings)
    result = folder / "result.json"
    child = {
        **{k: v for k, v in env.items() if not k.startswith("OTEL_")},
        "DJANGO_SETTINGS_MODULE": module,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(folder), str(HERE), str(ROOT / "src")]),
        "PARTS_REQUESTS": str(requests),
        "PARTS_RESULT": str(result),
    }
    if set_up.sampler_ratio is not None:
        child |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            **shipped_sampler(),
            "OTEL_TRACES_SAMPLER_ARG": set_up.sampler_ratio,
        }
    subprocess.run([sys.executable, "-c", CHILD], env=child, check=True, stdout=subprocess.DEVNULL)
    cpu_ms: float = json.loads(result.read_text())["cpu_ms"]
    return cpu_ms


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
        "one traced request": medians[ALL_TRACED] - medians[UNTRACED],
        "the JSON log lines": medians[UNTRACED] - medians[UNTRACED_UNLOGGED],
        "the rest: request id, metrics, metered cache, CSP header": (
            medians[UNTRACED_UNLOGGED] - medians[OFF]
        ),
    }


def markdown(runs: dict[str, list[float]], *, requests: int) -> str:
    """The set-ups' table and the parts' table.

    Args:
        runs: CPU milliseconds per request of each round, by set-up.
        requests: Requests per round.

    Returns:
        Markdown.
    """
    medians = {name: statistics.median(values) for name, values in runs.items()}
    set_ups = table(
        ["set-up", "CPU ms per request", "over off"],
        [
            [
                name,
                f"{fmt(medians[name], 3)} ({fmt(min(values), 3)} to {fmt(max(values), 3)})",
                f"x{fmt(medians[name] / medians[OFF], 2)}",
            ]
            for name, values in runs.items()
        ],
    )
    by_part = table(
        ["part", "CPU ms per request", "share of the list's CPU with it off"],
        [
            [name, fmt(cost, 3), f"{fmt(100 * cost / medians[OFF])}%"]
            for name, cost in parts(medians).items()
        ],
    )
    rounds = len(next(iter(runs.values())))
    plural = "s" if rounds > 1 else ""
    return (
        f"{set_ups}\n\n{by_part}\n\nThe DRF product list from the catalog cache, through the "
        f"WSGI application in one process per set-up, {requests:,} requests per round after a "
        f"warm-up, {rounds} round{plural}; CPU time of the whole process (every thread) per "
        "request: the median of the rounds (lowest to highest). The parts are differences of "
        "those medians."
    )


def main(argv: list[str] | None = None) -> int:
    """Measure each set-up in turn, round after round; print (and write) the tables.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000, help="per set-up and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 requests, 1 round, no wait")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    requests, rounds = (200, 1) if args.quick else (args.requests, args.rounds)
    watch = Watch(wait=not args.quick)
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
                        set_up, env=env, endpoint=endpoint, folder=Path(folder), requests=requests
                    )
                )
    text = f"{watch.taken_on()}\n\n{markdown(runs, requests=requests)}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
