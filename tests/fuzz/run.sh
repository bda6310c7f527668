#!/bin/sh
# Runs each libFuzzer target for SECONDS seconds on a scratch copy of its
# seed corpus (tests/fuzz/corpus/<target>/), so the repository's seeds are
# never rewritten.  Fails on the first crash, leak, sanitizer report or
# broken contract; the input that caused it is left in OUT/artifacts/.
# Prints one "fuzz: <target>: N executions in S s" line per target.
#
#   tests/fuzz/run.sh SECONDS OUT TARGET...   (TARGET: the built binary)
set -eu

seconds=$1 out=$2
shift 2
root=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/artifacts"
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	target=${name#fuzz_}
	work="$out/corpus-$target"
	rm -rf "$work"
	mkdir -p "$work"
	log="$out/$target.log"
	dict=''
	[ -f "$root/$target.dict" ] && dict="-dict=$root/$target.dict"
	# A small RSS limit and input size: nothing the service takes is large.
	if ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" -max_total_time="$seconds" -max_len=70000 -rss_limit_mb=1024 \
		-timeout=10 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$target-" \
		${dict:+"$dict"} \
		"$work" "$root/corpus/$target" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		echo "fuzz: $target: ${execs:-?} executions in ${seconds} s, no finding"
	else
		echo "fuzz: $target: FAILED (log: $log); last lines:" >&2
		tail -n 40 "$log" >&2
		status=1
	fi
done
exit $status
