# Two commands set up everything on a fresh machine:
#   make demo   venv + install, then push/list/pull a generated model on the embedded default gallery
#   make test   installs what the tests need (apt and pip), checks the architecture (import-linter
#               layers, mypy on the store roles), then runs the whole suite
.PHONY: demo test bench install

demo:
	bash scripts/demo.sh

test:
	bash scripts/install-test-deps.sh
	.venv/bin/lint-imports
	.venv/bin/mypy
	.venv/bin/python -m pytest $(PYTEST_ARGS)

install:
	bash scripts/install-venv.sh

bench:
	bash scripts/install-test-deps.sh
	.venv/bin/python scripts/bench_transfer.py $(BENCH_ARGS)
