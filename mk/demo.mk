# make demo: the "database is locked" failure and its fix, side by side.
#
#   make demo                          10 locust users, 10 s per configuration
#   make demo USERS=100 DURATION=30s   WORKERS=N also passes through
#
# Seven configurations (the last on a PostgreSQL server the demo starts),
# each on a fresh database and a fresh stack on a free 127.0.0.1 port under
# $(DEMO_OUT)/<configuration>/; the table, as markdown
# and CSV, and a PNG chart are written to $(DEMO_OUT). See docs/demo.md.

USERS ?= 10
DURATION ?= 10s
DEMO_OUT ?= var/demo
DEMO_CONFIGS ?=

.PHONY: demo

demo:
	@deploy/deps/install-deps.sh build run test bench
	@$(MAKE) --no-print-directory all
	$(PYTHON) bench/demo.py --users "$(USERS)" --duration "$(DURATION)" \
		--out "$(DEMO_OUT)" $(if $(WORKERS),--workers "$(WORKERS)") \
		$(if $(DEMO_CONFIGS),--configs "$(DEMO_CONFIGS)")
