# The two commands a new machine needs: `make run` (the whole product, embedded defaults) and
# `make test` (every test, against real PostgreSQL and Redis).
.PHONY: run test lint setup

setup:
	@scripts/bootstrap-env.sh

run: setup
	.venv/bin/python manage.py migrate --noinput
	.venv/bin/python manage.py createcachetable
	.venv/bin/honcho -f Procfile start

test:
	@scripts/bootstrap-env.sh test
	@scripts/services.sh
	@scripts/browser.sh
	@scripts/prefect-env.sh >/dev/null
	.venv/bin/ruff check .
	.venv/bin/python -m pytest $(PYTEST_ARGS)

lint:
	@scripts/bootstrap-env.sh test
	.venv/bin/ruff check .
