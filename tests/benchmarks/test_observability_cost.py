"""The instruction count table: its variants take away what they say, its arithmetic holds."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from django.conf import settings
from observability_cost import (
    DEPLOYED,
    NONE,
    VARIANTS,
    WITHOUT_CSP,
    WITHOUT_METRICS,
    drive,
    markdown,
    per_request,
    thread_totals,
)


@pytest.mark.parametrize(
    ("snippet", "removed"),
    [
        (WITHOUT_CSP, "django.middleware.csp.ContentSecurityPolicyMiddleware"),
        (WITHOUT_METRICS, "fashionistar.observability.middleware.MetricsMiddleware"),
    ],
)
def test_each_variant_takes_away_exactly_its_middleware(snippet: str, removed: str) -> None:
    names = {"MIDDLEWARE": list(settings.MIDDLEWARE), "SECURE_CSP": {"default-src": ["'self'"]}}
    exec(snippet, names)  # the settings module's own text

    assert removed in settings.MIDDLEWARE
    assert names["MIDDLEWARE"] == [name for name in settings.MIDDLEWARE if name != removed]


def test_callgrinds_per_thread_files_are_read_by_thread_number(tmp_path: Path) -> None:
    out_file = tmp_path / "callgrind_x_20"
    for thread, instructions in [(1, 5000), (2, 70), (12, 30)]:
        Path(f"{out_file}-{thread:02d}").write_text(
            f"# callgrind format\nversion: 1\nsummary: {instructions}\ntotals: {instructions}\n"
        )

    assert thread_totals(out_file) == {1: 5000, 2: 70, 12: 30}


def test_one_request_is_the_long_process_minus_the_short_one() -> None:
    short = {1: 1_000_000, 2: 500}
    long = {1: 1_000_000 + 100 * 3_000, 2: 500 + 100 * 40, 3: 100 * 10}

    assert per_request(short, long, 100) == {"serving": 3_000.0, "background": 50.0}


def test_the_table_gives_each_piece_as_the_deployed_settings_minus_its_row() -> None:
    figures = {
        variant.name: {"serving": 4e6, "background": 0.0, "sampled": 0} for variant in VARIANTS
    }
    figures[DEPLOYED] = {"serving": 4.4e6, "background": 0.2e6, "sampled": 9}
    figures[NONE] = {"serving": 3.2e6, "background": -0.1e6, "sampled": 0}

    text = markdown(figures)

    cells = {
        variant.name: next(
            line for line in text.splitlines() if line.startswith(f"| {variant.label} |")
        ).split(" | ")[1:]
        for variant in VARIANTS
    }
    assert cells[DEPLOYED] == ["4.40", "+37.5%", " |"]
    assert cells["no_csp"] == ["4.00", "+25.0%", "0.40 (12.5%) |"]
    assert cells[NONE] == ["3.20", "+0.0%", "1.20 (37.5%) |"]
    assert "9 of these requests were sampled" in text


@pytest.mark.django_db(transaction=True)  # the handler closes old connections, as a server does
def test_the_driver_calls_the_shops_wsgi_application_and_stops_at_an_answer_not_200() -> None:
    state = random.getstate()  # the driver seeds the generator trace ids come from
    try:
        drive("/api/sync/catalog/products", 2)
        with pytest.raises(SystemExit, match=r"^11 answers were not 200: 404"):
            drive("/api/sync/catalog/no-such-list", 1)
    finally:
        random.setstate(state)
