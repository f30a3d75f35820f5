# Shorthands for the README's commands; the scripts are the source of truth.
.PHONY: setup run check test sandbox-up sandbox-status sandbox-down plan-prod
setup:
	bash scripts/bootstrap.sh
run:
	bash scripts/run.sh
check:
	bash scripts/check.sh
test:
	bash scripts/test.sh
sandbox-up:
	.venv/bin/python -m tools sandbox up --profile prod
sandbox-status:
	.venv/bin/python -m tools sandbox status
sandbox-down:
	.venv/bin/python -m tools sandbox down
plan-prod:
	.venv/bin/python -m tools plan --stack prod
