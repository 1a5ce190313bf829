"""A small load run: catalog list and order placement, through both APIs, on the native stack.

Starts a throwaway stack, migrates, loads the demo catalog (with deep stock), serves the app with
uvicorn (2 workers, ASGI), and drives it from an asyncio + httpx client on the same machine for a
fixed time per scenario. Prints requests/s and latency percentiles per scenario, and JSON with
``--json``. The client shares the machine's cores with the server: the figures are a floor, not a
ceiling. Issue [6/8] replaces this with the full benchmark harness (wrk, plots, baselines).

Usage: ``uv run python benchmarks/load.py [--seconds 10] [--concurrency 16] [--json out.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from common import ROOT, machine, percentile, prepared_stack

from fashionistar.stack.native import free_port


async def drive(
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    *,
    base_url: str,
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
) -> dict[str, float]:
    """Send requests from ``concurrency`` loops for ``seconds``; measure each one."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=10
    ) as client:

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await request(client)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code >= 400

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": len(latencies) / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def wait_ready(url: str, timeout: float = 60) -> None:
    """Wait until the app answers its health check."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def main() -> int:
    """Run every scenario and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with prepared_stack(demo_stock=1_000_000) as env:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "fashionistar.asgi:application", "--port", str(port),
             "--workers", "2", "--no-access-log", "--log-level", "warning"],
            env=env, cwd=ROOT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(f"{base}/healthz")
            token = httpx.post(
                f"{base}/api/sync/auth/token",
                json={"username": "demo", "password": "fashionistar-demo"},
            ).json()["token"]
            variant_id = int(
                httpx.get(f"{base}/api/sync/catalog/products").json()["results"][0]["variants"][0][
                    "id"
                ]
            )
            order = {"items": [{"variant_id": variant_id, "quantity": 1}]}
            scenarios = {
                f"{flavour} catalog list": (
                    lambda c, f=flavour: c.get(f"/api/{f}/catalog/products")
                )
                for flavour in ("async", "sync")
            } | {
                f"{flavour} order placement": (
                    lambda c, f=flavour: c.post(f"/api/{f}/orders", json=order)
                )
                for flavour in ("async", "sync")
            }
            results = {}
            for name, request in scenarios.items():
                results[name] = asyncio.run(
                    drive(
                        request,
                        base_url=base,
                        headers={"Authorization": f"Token {token}"},
                        seconds=args.seconds,
                        concurrency=args.concurrency,
                    )
                )
                figures = results[name]
                print(
                    f"{name:24} {figures['requests_per_s']:8.1f} req/s  "
                    f"p50 {figures['p50_ms']:6.1f} ms  p95 {figures['p95_ms']:6.1f} ms  "
                    f"p99 {figures['p99_ms']:6.1f} ms  errors {figures['errors']}"
                )
        finally:
            server.terminate()
            server.wait()
    report = {
        "machine": machine(),
        "server": "uvicorn, 2 workers, ASGI",
        "client": f"httpx asyncio, concurrency {args.concurrency}, same machine",
        "seconds_per_scenario": args.seconds,
        "results": results,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
