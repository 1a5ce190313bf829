"""How long a newcomer waits for ``make serve``: the first start, the next one, and the stop.

    python benchmarks/first_run.py [--runs 3] [--markdown docs/assets/first-run.md.txt]

Each run copies the working tree into a new folder that only its owner may enter (what a fresh
clone gives), runs ``make serve`` there and times it until it prints that everything answers;
then SIGTERM to its process group, timed until every process it started is gone; then a second
``make serve`` in the same clone, whose data is kept. uv's package cache is used as it is: a
machine that never ran uv downloads the packages on top of these figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from common import Watch, seconds_spread

from fashionistar_dev.checkout import copy_working_tree
from fashionistar_dev.processes import free_ports
from fashionistar_dev.serve import default_data_dir

READY_LINE = "Ctrl-C stops everything."
TIMEOUT_S = 600.0


def children_of(pid: int) -> list[int]:
    """Every process whose parent is ``pid``, from ``/proc``.

    Args:
        pid: The parent.

    Returns:
        Their process ids.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """A process's descendants.

    Args:
        pid: The root.

    Returns:
        Their process ids.
    """
    found, todo = [], [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


def serve_until_ready(clone: Path, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Run ``make serve`` in ``clone`` and time it until it answers.

    Args:
        clone: The clone.
        log: Where its output goes.

    Returns:
        The running command, and the seconds it took.

    Raises:
        RuntimeError: It exited or took too long.
    """
    ports = free_ports(3)
    args = f"--app-port {ports[0]} --docs-port {ports[1]} --smtp-port {ports[2]}"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "DATABASE_URL")}
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "serve", f"SERVE_ARGS={args}"],
            cwd=clone,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    while READY_LINE not in log.read_text(errors="replace"):
        if process.poll() is not None or time.perf_counter() - started > TIMEOUT_S:
            raise RuntimeError(f"make serve did not get ready:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return process, time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM to the command's process group, timed until nothing it started is left.

    Args:
        process: ``make serve``.

    Returns:
        The seconds it took.

    Raises:
        RuntimeError: Something was still running after the timeout.
    """
    everything = tree(process.pid)
    started = time.perf_counter()
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=TIMEOUT_S)
    while any(Path(f"/proc/{pid}").exists() for pid in everything):
        if time.perf_counter() - started > TIMEOUT_S:
            raise RuntimeError("processes left after SIGTERM")
        time.sleep(0.05)
    return time.perf_counter() - started


def one_run() -> dict[str, float]:
    """A fresh clone's first start, its stop, and its second start.

    Returns:
        Seconds by step.
    """
    clone = Path(tempfile.mkdtemp(prefix="fashionistar-first-run-"))
    log = clone.parent / f"{clone.name}.log"
    try:
        copy_working_tree(clone)
        process, first = serve_until_ready(clone, log)
        stopped = stop(process)
        process, second = serve_until_ready(clone, log)
        stop(process)
        return {"first": first, "stop": stopped, "second": second}
    finally:
        shutil.rmtree(default_data_dir(clone), ignore_errors=True)
        shutil.rmtree(clone, ignore_errors=True)
        log.unlink(missing_ok=True)


def main() -> None:
    """Time the runs and print (or write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--markdown", type=Path)
    options = parser.parse_args()
    watch = Watch()
    runs = [one_run() for _ in range(options.runs)]
    rows = [
        ("first `make serve` of a fresh clone, until every address answers", "first"),
        ("`make serve` again, its data kept", "second"),
        ("SIGTERM, until no process it started is left", "stop"),
    ]
    lines = [
        watch.taken_on(),
        "",
        f"| step | seconds: median (min to max) of {options.runs} runs |",
        "|---|---|",
        *(f"| {label} | {seconds_spread([run[key] for run in runs])} |" for label, key in rows),
        "",
        f"By `python benchmarks/first_run.py --runs {options.runs}`, uv's package cache already "
        "filled.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.markdown:
        options.markdown.write_text(text)


if __name__ == "__main__":
    main()
