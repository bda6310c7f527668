# sqlite-fcgi: see README.md.  Knobs: CC, SANITIZE, and for run, start, stop
# and resize, RUN_DIR and every setting in README.md (PORT, DB_PATH, WORKERS,
# ...): their defaults are deploy/local/stack.sh's and the binary's.

CC ?= cc
PYTHON := /usr/bin/python3
BUILD := build

WARN := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wstrict-prototypes
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?= -O2 -g
# libpq's header lives in its own directory (Debian: /usr/include/postgresql).
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
# Every build of the sources: the language, the warnings, the headers.
# -pthread: each worker serves with WORKER_THREADS threads.
BASE_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -pthread $(WARN) $(PQ_CFLAGS)
ALL_CFLAGS := $(BASE_CFLAGS) $(HARDEN) $(CFLAGS)
ALL_LDFLAGS := -pie -pthread -Wl,-z,relro,-z,now $(LDFLAGS)
LIBS := -lfcgi -lsqlite3 -lpq -lcrypt -lcrypto -ljansson

# The builds under sanitizers (the unit tests here, the fuzz targets in
# mk/reliability.mk): debuggable, and the first report fatal.
SAN_DEBUG_CFLAGS := -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
# The same sources built again with sanitizers, for the unit tests.
SANITIZE ?= address,undefined
SAN_CFLAGS := $(BASE_CFLAGS) $(SAN_DEBUG_CFLAGS) -fsanitize=$(SANITIZE)

# ThreadSanitizer (clang's): the threaded unit test, and a worker for the tests.
TSAN_CC ?= clang
TSAN_CFLAGS := $(BASE_CFLAGS) -O1 -g -fno-omit-frame-pointer -fsanitize=thread

APP_SRC := $(filter-out app/src/main.c,$(wildcard app/src/*.c))
APP_OBJ := $(APP_SRC:app/src/%.c=$(BUILD)/obj/%.o)
SAN_OBJ := $(APP_SRC:app/src/%.c=$(BUILD)/san/%.o)
TSAN_OBJ := $(APP_SRC:app/src/%.c=$(BUILD)/tsan/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
SAN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/san-unit/%)

# Keep the objects of the sanitizer build between runs.
.SECONDARY:

.PHONY: all deps run start stop migrate test test-build unit-test sanitize-test tsan-test \
	integration-test clean

all: $(BUILD)/sqlite-fcgi

deps:
	@deploy/deps/install-deps.sh

$(BUILD)/obj/%.o: app/src/%.c app/src/*.h | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/sqlite-fcgi: $(APP_OBJ) $(BUILD)/obj/main.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/san/%.o: app/src/%.c app/src/*.h | $(BUILD)/san
	$(CC) $(SAN_CFLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c tests/unit/*.h $(APP_OBJ) | $(BUILD)/unit
	$(CC) $(ALL_CFLAGS) -Iapp/src -o $@ $< $(APP_OBJ) $(ALL_LDFLAGS) $(UNIT_LDFLAGS) $(LIBS) -lcmocka

$(BUILD)/san-unit/%: tests/unit/%.c tests/unit/*.h $(SAN_OBJ) | $(BUILD)/san-unit
	$(CC) $(SAN_CFLAGS) -Iapp/src -o $@ $< $(SAN_OBJ) -fsanitize=$(SANITIZE) -pthread $(UNIT_LDFLAGS) $(LIBS) -lcmocka

$(BUILD)/tsan/%.o: app/src/%.c app/src/*.h | $(BUILD)/tsan
	$(TSAN_CC) $(TSAN_CFLAGS) -c -o $@ $<

$(BUILD)/tsan/sqlite-fcgi: $(TSAN_OBJ) $(BUILD)/tsan/main.o
	$(TSAN_CC) -fsanitize=thread -pthread -o $@ $^ $(LIBS)

# The unit tests whose threads share state: test_threads, test_commit, test_rows.
TSAN_UNIT_BIN := $(BUILD)/tsan/test_threads $(BUILD)/tsan/test_commit $(BUILD)/tsan/test_rows

$(BUILD)/tsan/test_%: tests/unit/test_%.c tests/unit/*.h $(TSAN_OBJ)
	$(TSAN_CC) $(TSAN_CFLAGS) -Iapp/src -o $@ $< $(TSAN_OBJ) $(LIBS) -lcmocka

# test_db reads each block the wiping allocator frees, just before free().
$(BUILD)/unit/test_db $(BUILD)/san-unit/test_db: UNIT_LDFLAGS := -Wl,--wrap=free

$(BUILD)/obj $(BUILD)/san $(BUILD)/tsan $(BUILD)/unit $(BUILD)/san-unit:
	mkdir -p $@

# The LD_PRELOAD shims: tests/DIR/NAME.c -> build/DIR/NAME.so (the
# power-loss recorder, the fault injector) and bench/NAME.c ->
# build/bench/NAME.so (make bench's simulated slow disk).  Built without
# _FORTIFY_SOURCE: they define open() and friends themselves, which the
# fortified headers declare as inline wrappers.
SHIM_BUILD = mkdir -p $(@D) && $(CC) -std=c11 $(WARN) -O1 -g -fPIC -shared -o $@ $< -ldl

$(BUILD)/%.so: tests/%.c bench/shim_db_file.h
	$(SHIM_BUILD)

$(BUILD)/bench/%.so: bench/%.c bench/shim_db_file.h
	$(SHIM_BUILD)

migrate: deps all
	$(BUILD)/sqlite-fcgi migrate

run: deps all
	deploy/local/stack.sh run

start: deps all
	deploy/local/stack.sh start

stop:
	deploy/local/stack.sh stop

# What make test builds (its tests build the rest on demand: litestream),
# built first, a job per CPU; the steps then run one after the other.
NPROC := $(shell nproc 2>/dev/null || echo 1)

test-build: all $(UNIT_BIN) $(SAN_UNIT_BIN) $(TSAN_UNIT_BIN) $(BUILD)/tsan/sqlite-fcgi \
	bench-build fuzz-build faults-build powerloss-build

test: deps
	$(MAKE) -j$(NPROC) test-build
	$(MAKE) lint unit-test sanitize-test tsan-test integration-test

unit-test: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do echo "== $$t"; $$t || exit 1; done

# ASan + UBSan: any report fails the run (halt_on_error, no recovery).
sanitize-test: $(SAN_UNIT_BIN)
	@for t in $(SAN_UNIT_BIN); do echo "== $$t"; \
		ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $$t || exit 1; done

# ThreadSanitizer: several threads serving at once; any data race fails the run.
tsan-test: $(TSAN_UNIT_BIN)
	@for t in $(TSAN_UNIT_BIN); do echo "== $$t"; \
		TSAN_OPTIONS=halt_on_error=1:exitcode=66 $$t || exit 1; done

integration-test: all
	$(PYTHON) -m pytest -v --durations=15 -p no:cacheprovider tests/integration

clean:
	rm -rf $(BUILD) var

# Feature targets (demo, containers, ...) live in mk/*.mk.
-include mk/*.mk
