# Fuzzing with libFuzzer (clang, Debian's libclang-rt-14-dev), and the
# reliability checks that run in make test (tests/integration/test_fuzz.py
# runs fuzz-smoke; the bad-input, crash, fault, valgrind and security tests
# are pytest files in tests/integration/; the fault tests load
# tests/faults/inject.c, built here).  See docs/reliability.md.
#
#   make fuzz FUZZ_SECONDS=300   each target for 300 s (default 60)
#   make fuzz-smoke              each target for FUZZ_SMOKE_SECONDS (8): make test
#   (both run FUZZ_JOBS targets at a time, default one per CPU: tests/fuzz/run.sh)
#
# Targets (tests/fuzz/fuzz_<name>.c, seeds in tests/fuzz/corpus/<name>/):
#   form     form bodies: input_parse_form + input_validate
#   json     JSON bodies: input_parse_json + input_validate
#   request  request parameters and query strings: http_request_init,
#            http_media_type, percent-decoding
#   rows     the matrix's form bodies: rows_input_parse_form +
#            rows_input_validate (floats as Python's float() reads them)

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 8
FUZZ_OUT ?= $(BUILD)/fuzz/out
FUZZ_NAMES := form json request rows
FUZZ_BIN := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
# clang checks the log helpers' vsnprintf as gcc does not: that is the only warning relaxed.
FUZZ_CFLAGS := $(BASE_CFLAGS) -Wno-format-nonliteral $(SAN_DEBUG_CFLAGS) -fsanitize=address,undefined
FUZZ_OBJ := $(APP_SRC:app/src/%.c=$(BUILD)/fuzz/obj/%.o)

.PHONY: fuzz fuzz-build fuzz-smoke

$(BUILD)/fuzz/obj/%.o: app/src/%.c app/src/*.h | $(BUILD)/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/*.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iapp/src -o $@ $< $(FUZZ_OBJ) $(LIBS)

$(BUILD)/fuzz/obj:
	mkdir -p $@

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_OUT) $(FUZZ_BIN)

fuzz-smoke: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_OUT) $(FUZZ_BIN)

# The fault injector (LD_PRELOAD) of test_faults.py and test_bugs_are_500.py,
# built by the shims' rule in the Makefile.
.PHONY: faults-build
faults-build: $(BUILD)/faults/inject.so

integration-test: faults-build
