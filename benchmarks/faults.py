"""Faults, each injected N times: how long until users are served again, and what went wrong.

Starts a throwaway native stack, migrates it, and runs, ``--runs`` times each:

- **postgres**: PostgreSQL stopped (``pg_ctl stop -m fast``) for ``--down-s`` seconds and
  started again, while 4 customers place and read orders through both APIs
  (``tests/faults/traffic.py``);
- **pgbouncer**: the same with PgBouncer;
- **gateway 5xx** and **gateway slow**: an order paid through each API while the card gateway
  answers 503, or answers after the client's timeout; then a retry with the same key
  (``tests/faults/gateway_faults.py``).

For the server faults, *recovery* is the time from the server being back until the first order
answered 201, *outage* from the fault until then; for the gateway, *recovery* is from the
gateway being well until the retry's answer. Anomalies: an order answered 201 that is not in
the database, stock that does not account for the orders, an answer other than 200, 201 or the
fault's 503, a request slower than ``--request-limit-s``, not exactly one charge per paid order.

Usage: ``uv run python benchmarks/faults.py [--runs 5] [--down-s 1] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Watch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.faults, tests.factories

REQUEST_LIMIT_S = 6.0
"""Django connects with a 5 s ``connect_timeout``: a request much longer than that hangs."""


def setup_django(environ: dict[str, str]) -> None:
    """Point Django at the stack, migrate, and serve the test client's host."""
    os.environ.update(environ)
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.project.settings")
    os.environ.setdefault("API_THROTTLE_USER", "10000000/minute")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's "testserver" host, quick password hashes
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0, interactive=False)


def spread(values: list[float]) -> str:
    """Format min / median / max in seconds."""
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def server_fault(stack: Any, name: str, *, runs: int, down_s: float) -> dict[str, Any]:
    """Restart one server ``runs`` times under traffic; collect recovery times and anomalies."""
    from tests.faults.stack_faults import service_restart
    from tests.faults.traffic import fault_run

    def restart() -> float:
        service_restart(stack=stack, name=name, down_s=down_s)
        return time.monotonic()

    recoveries, outages, slowest, anomalies = [], [], [], []
    answers: Counter[str] = Counter()
    placed = unknown = 0
    for run in range(runs):
        report = fault_run(restart, allowed={"200", "201", "503 database_unavailable"})
        print(f"  run {run + 1}: {report.line(name)}", flush=True)
        recoveries.append(report.recovery_s)
        outages.append(report.downtime_s)
        slowest.append(report.slowest_s)
        answers.update(report.answers)
        placed += report.placed
        unknown += report.replayed
        anomalies += report.anomalies
        anomalies += [f"{count} answers {kind}" for kind, count in report.unexpected.items()]
        if report.slowest_s > REQUEST_LIMIT_S:
            anomalies.append(f"run {run + 1}: a request took {report.slowest_s:.1f} s")
    return {
        "fault": f"{name} down {down_s:g} s",
        "runs": runs,
        "recovery_s": recoveries,
        "outage_s": outages,
        "slowest_request_s": max(slowest),
        "answers": dict(answers),
        "orders_placed": placed,
        "orders_committed_but_answered_503_then_replayed": unknown,
        "anomalies": anomalies,
    }


def gateway_faults(name: str, *, runs: int, **unwell: Any) -> dict[str, Any]:
    """Pay through each API ``runs`` times while the gateway is unwell, then retry."""
    from tests.api_support import APIS
    from tests.faults.gateway_faults import gateway_anomalies, gateway_fault

    first_s, recoveries, anomalies = [], [], []
    for run in range(runs):
        for api in APIS:
            fault = gateway_fault(api=api, **unwell)
            first_s.append(fault.first_s)
            recoveries.append(fault.recovery_s)
            found = gateway_anomalies(fault)
            anomalies += [f"run {run + 1} {api}: {anomaly}" for anomaly in found]
            print(
                f"  run {run + 1} {api}: {fault.first.status} in {fault.first_s:.2f} s, "
                f"retry {fault.retry.status}, {fault.charges} charge(s)",
                flush=True,
            )
    return {
        "fault": name,
        "runs": runs * len(APIS),
        "first_answer_s": first_s,
        "recovery_s": recoveries,
        "anomalies": anomalies,
    }


def main() -> int:
    """Run every fault and print the figures; exit 1 if any anomaly was found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--down-s", type=float, default=1.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here too")
    args = parser.parse_args()
    watch = Watch()

    from fashionistar_dev.stack import running_stack

    with running_stack(environ={"FASHIONISTAR_STACK": "native"}) as stack:
        setup_django(stack.urls.environ())
        from tests.faults.gateway_faults import SLOWER_THAN_TIMEOUT_MS

        scenarios: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            (
                "postgres",
                lambda: server_fault(stack, "postgres", runs=args.runs, down_s=args.down_s),
            ),
            (
                "pgbouncer",
                lambda: server_fault(stack, "pgbouncer", runs=args.runs, down_s=args.down_s),
            ),
            (
                "gateway 5xx",
                lambda: gateway_faults("gateway 5xx", runs=args.runs, failure_rate=1.0),
            ),
            (
                "gateway slow",
                lambda: gateway_faults(
                    f"gateway slow ({SLOWER_THAN_TIMEOUT_MS} ms)",
                    runs=args.runs,
                    latency_ms=SLOWER_THAN_TIMEOUT_MS,
                ),
            ),
        ]
        results = []
        for name, scenario in scenarios:
            print(f"{name} ...", flush=True)
            results.append(scenario())
    lines = [
        watch.taken_on(),
        "",
        "| fault | runs | recovery s (min / median / max) | what users saw | anomalies |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        if "answers" in result:
            answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(result["answers"].items()))
            seen = (
                f"outage {spread(result['outage_s'])} s; slowest request "
                f"{result['slowest_request_s']:.2f} s; {answers}; "
                f"{result['orders_committed_but_answered_503_then_replayed']} orders committed "
                "but answered 503, then given to the retry with the same key"
            )
        else:
            seen = f"first answer 503 in {spread(result['first_answer_s'])} s, retry 201"
        lines.append(
            f"| {result['fault']} | {result['runs']} | {spread(result['recovery_s'])} | "
            f"{seen} | {len(result['anomalies'])} |"
        )
    total = sum(len(result["anomalies"]) for result in results)
    lines += [""] + [
        f"anomaly in {result['fault']}: {anomaly}"
        for result in results
        for anomaly in result["anomalies"]
    ]
    lines.append(
        f"`anomalies in total: {total}`, with `--runs {args.runs} --down-s {args.down_s:g}`."
    )
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
