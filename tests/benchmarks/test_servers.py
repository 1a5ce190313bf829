"""The server table: the shipped candidate is the image's command, and the table names it."""

from __future__ import annotations

import servers

from tests.production import runtime_stage

COLUMNS = ("bare ping", "livez", "bare list", "DRF list", "Ninja list", "bare wait")


def test_the_shipped_candidate_runs_the_images_command() -> None:
    (shipped,) = [c for c in servers.CANDIDATES if c.name == servers.SHIPPED]
    _, _, image = runtime_stage()
    argv = shipped.argv("fashionistar.project.asgi:application", 8000)
    assert argv[1:3] == ["-m", "granian"]
    options = argv[argv.index("--interface") :]
    expected = image[image.index("--interface") :]
    expected[expected.index("--host") + 1] = "127.0.0.1"
    assert options == expected


def test_the_table_sets_the_shipped_server_against_the_fastest_other_asgi_one() -> None:
    def cell(rate: float) -> dict[str, float]:
        return {"requests_per_s": rate, "lowest": rate, "highest": rate, "p95_ms": 1.0, "errors": 0}

    rates = {candidate.name: 100.0 for candidate in servers.CANDIDATES}
    rates[servers.SHIPPED] = 150.0
    rates["uvicorn, ASGI (httptools, uvloop)"] = 120.0
    rates["granian, WSGI"] = 300.0
    figures = {name: {column: cell(rate) for column in COLUMNS} for name, rate in rates.items()}
    text = servers.markdown({"figures": figures, "taken_on": "Taken now."}, seconds=4, repeats=3)
    assert (
        "Shipped: **granian, ASGI**; against the fastest other ASGI server "
        "(uvicorn, ASGI (httptools, uvloop)): livez x1.25, DRF list x1.25, Ninja list x1.25. "
        "Fastest on the DRF list: granian, WSGI, x2.00 the shipped server."
    ) in text
