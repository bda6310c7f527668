# make demo: the "database is locked" failure and its fix, side by side.
#
#   make demo                          10 locust users, 10 s per configuration
#   make demo USERS=100 DURATION=30s   WORKERS=N also passes through
#
# Eight configurations (the last on a PostgreSQL server the demo starts),
# each on a fresh database and a fresh stack on a free 127.0.0.1 port under
# $(DEMO_OUT)/<configuration>/ (var/demo); the table, as markdown and CSV,
# and a PNG chart are written to $(DEMO_OUT). See docs/demo.md.

# Given or not: the defaults (10 users, 10 s, var/demo) are bench/demo.py's.
USERS ?=
DURATION ?=
DEMO_OUT ?=
DEMO_CONFIGS ?=
# What make demo and make compare pass on when it is given.
LOAD_ARGS = $(if $(USERS),--users "$(USERS)") $(if $(DURATION),--duration "$(DURATION)")

.PHONY: demo

demo:
	@deploy/deps/install-deps.sh build run test bench
	@$(MAKE) --no-print-directory all
	$(PYTHON) bench/demo.py $(LOAD_ARGS) $(if $(DEMO_OUT),--out "$(DEMO_OUT)") \
		$(if $(WORKERS),--workers "$(WORKERS)") $(if $(DEMO_CONFIGS),--configs "$(DEMO_CONFIGS)")
