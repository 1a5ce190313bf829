# The two quick-start commands (`make serve`, `make test`) set everything up themselves:
# uv (installed with pip when missing), the locked Python dependencies, and the servers
# (PostgreSQL, PgBouncer, Redis: apt-get installs them when missing and we are root).

PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen
export NO_MKDOCS_2_WARNING := 1

.PHONY: setup serve test lint docs bench

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --quiet
	@npm ci --prefix deploy/tools --no-audit --no-fund --silent

serve: setup
	$(RUN) python -m fashionistar_dev.serve

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	@# django-stubs imports the settings module: give it placeholder values, nothing connects.
	DJANGO_SECRET_KEY=typing DATABASE_URL=postgres://typing@localhost/typing REDIS_URL=redis://localhost \
		$(RUN) mypy src

docs: setup
	$(RUN) mkdocs build --strict --quiet

test: setup lint
	$(RUN) pytest
	$(RUN) mkdocs build --strict --quiet

# Every benchmark scenario on a throwaway native stack (installs wrk with apt-get when missing);
# results, tables and plots go to docs/assets/benchmarks/. QUICK=1: a few seconds per scenario.
bench: setup
	$(RUN) python benchmarks/run_all.py $(if $(QUICK),--quick)
