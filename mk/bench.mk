# make bench: the ceilings and the service measured in one run (bench/).
# BENCH_QUICK=1 runs it in under a minute (make test does, for the table only).

BENCH_QUICK ?=

$(BUILD)/hello-fcgi: bench/hello_fcgi.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) -lfcgi

$(BUILD)/ceilings: bench/ceilings.c $(APP_OBJ)
	$(CC) $(ALL_CFLAGS) -Iapp/src -o $@ $< $(APP_OBJ) $(ALL_LDFLAGS) $(LIBS)

.PHONY: bench bench-build
bench-build: $(BUILD)/sqlite-fcgi $(BUILD)/hello-fcgi $(BUILD)/ceilings $(BUILD)/bench/slow_sync.so

bench: deps bench-build
	BENCH_QUICK=$(BENCH_QUICK) $(PYTHON) bench/bench.py

# make tune: sweep WORKERS under the same load and recommend a count.
.PHONY: tune
tune: deps $(BUILD)/sqlite-fcgi
	$(PYTHON) bench/tune.py
