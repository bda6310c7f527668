# Failover and network faults past one host: a PostgreSQL primary with a
# synchronous standby, two app pools (127.0.0.2, 127.0.0.3) behind one
# nginx, and the scenarios of tests/failover/scenarios.py under load, each
# checked answer by answer against the database; one table.  Root (iptables
# on lo, the postgres user).  See docs/postgresql.md and docs/hosts.md.
#
#   make faults                          every scenario
#   make faults FAULTS="kill-primary"    some (names: scenarios.py, SCENARIOS)

FAULTS ?=
.PHONY: faults
faults: deps $(BUILD)/sqlite-fcgi
	$(PYTHON) -m tests.failover.scenarios $(FAULTS)
