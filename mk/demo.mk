# make demo: the "database is locked" failure and its fix, side by side.
#
#   make demo                          10 locust users, 10 s per configuration
#   make demo USERS=100 DURATION=30s   WORKERS=N also passes through
#   make demo DEMO_WORKLOADS=matrix    one workload of create_user, matrix
#
# Eight configurations (the last on a PostgreSQL server the demo starts),
# each under two workloads (the seed's /create_user/, then upstream's
# endpoint matrix mix), each on a fresh database and a fresh stack on a free
# 127.0.0.1 port under $(DEMO_OUT)/<configuration>/ and
# $(DEMO_OUT)/matrix/<configuration>/ (var/demo); the tables, as markdown and
# CSV, and a PNG chart are written to $(DEMO_OUT). See docs/demo.md.

# Given or not: the defaults (10 users, 10 s, var/demo) are bench/demo.py's.
USERS ?=
DURATION ?=
DEMO_OUT ?=
DEMO_CONFIGS ?=
DEMO_WORKLOADS ?=
# What make demo and make compare pass on when it is given.
LOAD_ARGS = $(if $(USERS),--users "$(USERS)") $(if $(DURATION),--duration "$(DURATION)")

.PHONY: demo

demo:
	@deploy/deps/install-deps.sh build run test bench
	@$(MAKE) --no-print-directory all
	$(PYTHON) bench/demo.py $(LOAD_ARGS) $(if $(DEMO_OUT),--out "$(DEMO_OUT)") \
		$(if $(WORKERS),--workers "$(WORKERS)") $(if $(DEMO_CONFIGS),--configs "$(DEMO_CONFIGS)") \
		$(if $(DEMO_WORKLOADS),--workloads "$(DEMO_WORKLOADS)")
