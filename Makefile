# clickstream-warehouse: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
DAYS ?= 7
EVENTS ?= 15000
SEED ?= 42

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint format docs bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-8s\033[0m %s\n", $$1, $$2}'

setup: ## Create .venv, install the project, check Java
	@scripts/bootstrap.sh

demo: setup ## Run the whole pipeline on the embedded PostgreSQL (DAYS, EVENTS, SEED)
	$(BIN)/clickstream run --days $(DAYS) --events-per-day $(EVENTS) --seed $(SEED)

test: setup ## Lint everything, then run the whole test suite against a real PostgreSQL
	@scripts/test.sh

lint: setup ## ruff, mypy, sqlfluff and dbt parse --warn-error
	@scripts/lint.sh

format: setup ## Apply ruff format and sqlfluff fix
	$(BIN)/ruff format clickstream generator spark_staging tests scripts
	$(BIN)/ruff check --fix clickstream generator spark_staging tests scripts
	$(BIN)/sqlfluff fix dbt_project analyses

docs: setup ## Generate the dbt docs site and serve it on http://127.0.0.1:8080
	$(BIN)/clickstream docs --serve

bench: setup ## Run the benchmarks and write docs/benchmarks.md
	$(BIN)/clickstream bench

clean: ## Remove generated data, reports, dbt targets and the embedded warehouse
	-$(BIN)/clickstream warehouse stop 2>/dev/null
	rm -rf data reports .warehouse dbt_project/target dbt_project/logs spark-warehouse
