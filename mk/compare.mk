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

# make compare-matrix: upstream's endpoint matrix (docs/matrix.md) on
# upstream's Django app (Django's defaults, its workaround) and on
# sqlite-fcgi (django-default, tuned, tuned on PostgreSQL), under upstream's
# locust mix, with locust's own ceiling measured first and tuned under wrk
# too when it comes near that ceiling (bench/compare_matrix.py).
#
#   make compare-matrix                        100 users, 20 s per run
#   make compare-matrix USERS=100 DURATION=100s   upstream's published setting
#   make compare-matrix MATRIX_STACKS=django-workaround,fcgi-tuned MATRIX_WRK=always
#
# Tables and a chart in $(MATRIX_OUT)/results.md, results.csv and results.png
# (var/compare-matrix). See docs/matrix.md.
MATRIX_OUT ?=
MATRIX_STACKS ?=
MATRIX_WRK ?=

.PHONY: compare-matrix

compare-matrix:
	@deploy/deps/install-deps.sh build run test bench compare
	@$(MAKE) --no-print-directory $(BUILD)/sqlite-fcgi
	$(PYTHON) bench/compare_matrix.py $(LOAD_ARGS) $(if $(MATRIX_OUT),--out "$(MATRIX_OUT)") \
		$(if $(MATRIX_STACKS),--stacks "$(MATRIX_STACKS)") \
		$(if $(MATRIX_WRK),--wrk "$(MATRIX_WRK)")
