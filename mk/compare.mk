# make compare: the original Django app (bench/django, under gunicorn) and
# sqlite-fcgi under the same load (locust, wrk), in one run (bench/compare.py).
#
#   make compare                          10 locust users, 10 s per run
#   make compare USERS=50 DURATION=30s
#   make compare COMPARE_HASHES=cheap COMPARE_TOOLS=locust \
#                COMPARE_STACKS=django-fixed,fcgi-tuned
#
# Four stacks (django-default, django-fixed, fcgi-django-default, fcgi-tuned)
# under locust (make demo's run) and under wrk, at the default hashes and at
# cheap ones, each on a fresh database and a free 127.0.0.1 port under
# $(COMPARE_OUT)/<hash>/<tool>/<stack>/; the tables and a chart go to
# $(COMPARE_OUT)/results.md, results.csv and results.png. See docs/compare.md.

# Given or not: the defaults (10 users, 10 s, var/compare, all of each) are
# bench/compare.py's. USERS and DURATION: LOAD_ARGS (mk/demo.mk).
COMPARE_OUT ?=
COMPARE_HASHES ?=
COMPARE_STACKS ?=
COMPARE_TOOLS ?=

.PHONY: compare

compare:
	@deploy/deps/install-deps.sh build run test bench compare
	@$(MAKE) --no-print-directory $(BUILD)/sqlite-fcgi $(BUILD)/ceilings
	$(PYTHON) bench/compare.py $(LOAD_ARGS) $(if $(COMPARE_OUT),--out "$(COMPARE_OUT)") \
		$(if $(COMPARE_HASHES),--hashes "$(COMPARE_HASHES)") \
		$(if $(COMPARE_TOOLS),--tools "$(COMPARE_TOOLS)") \
		$(if $(COMPARE_STACKS),--stacks "$(COMPARE_STACKS)")
