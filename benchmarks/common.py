"""What the benchmark scripts share: a prepared native stack, percentiles, the machine."""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fashionistar.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]
MANAGE = [sys.executable, str(ROOT / "manage.py")]


def percentile(samples: list[float], share: float) -> float:
    """Return the nearest-rank percentile of the samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def machine() -> dict[str, object]:
    """Describe the machine the figures come from."""
    return {"cores": os.cpu_count(), "platform": platform.platform(), "python": sys.version}


@contextmanager
def prepared_stack(*, demo_stock: int | None = None) -> Iterator[dict[str, str]]:
    """Start a native stack, migrate it (and load the demo catalog), yield the app's env."""
    with running_stack(environ={"FASHIONISTAR_STACK": "native"}) as stack:
        env = {
            **os.environ,
            **stack.urls.environ(),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SETTINGS_MODULE": "fashionistar.settings",
            "API_THROTTLE_ANON": "10000000/minute",
            "API_THROTTLE_USER": "10000000/minute",
        }
        subprocess.run([*MANAGE, "migrate", "-v", "0"], env=env, check=True)
        if demo_stock is not None:
            subprocess.run(
                [*MANAGE, "load_demo", "--stock", str(demo_stock)],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        yield env
