#!/bin/sh
# Runs each libFuzzer target for SECONDS seconds on a scratch copy of its
# seed corpus (tests/fuzz/corpus/<target>/), so the repository's seeds are
# never rewritten.  Fails on a crash, leak, sanitizer report or broken
# contract; the input that caused it is left in OUT/artifacts/.  Prints one
# "fuzz: <target>: N executions in S s" line per target, in the order given.
#
# The targets run FUZZ_JOBS at a time (default: one per CPU): each is one
# single-threaded process, so on N CPUs N of them fuzz as much in SECONDS as
# one would alone, and make test waits SECONDS per N targets, not per target.
#
#   tests/fuzz/run.sh SECONDS OUT TARGET...   (TARGET: the built binary)
set -eu

seconds=$1 out=$2
shift 2
root=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
mkdir -p "$out/artifacts"

# fuzz_one BIN: fuzzes one target; its line of the report in OUT/TARGET.result
# (the log in OUT/TARGET.log), exit 0 when it found nothing.
fuzz_one() {
	name=$(basename "$1")
	target=${name#fuzz_}
	work="$out/corpus-$target"
	rm -rf "$work"
	mkdir -p "$work"
	log="$out/$target.log"
	rm -f "$out/$target.result"
	dict=''
	[ -f "$root/$target.dict" ] && dict="-dict=$root/$target.dict"
	# A small RSS limit and input size: nothing the service takes is large.
	if ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$1" -max_total_time="$seconds" -max_len=70000 -rss_limit_mb=1024 \
		-timeout=10 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$target-" \
		${dict:+"$dict"} \
		"$work" "$root/corpus/$target" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		echo "fuzz: $target: ${execs:-?} executions in ${seconds} s, no finding" \
			>"$out/$target.result"
	else
		echo "fuzz: $target: FAILED (log: $log)" >"$out/$target.result"
		return 1
	fi
}

# The targets in batches of $jobs, each batch waited for.
set -- "$@" --
while [ "$1" != -- ]; do
	pids=''
	i=0
	while [ "$1" != -- ] && [ "$i" -lt "$jobs" ]; do
		fuzz_one "$1" &
		pids="$pids $!"
		set -- "$@" "$1"
		shift
		i=$((i + 1))
	done
	for pid in $pids; do
		wait "$pid" || true
	done
done
shift

# The report, in the order given; a failed target's last lines on stderr.
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	target=${name#fuzz_}
	line=$(cat "$out/$target.result" 2>/dev/null || echo "fuzz: $target: FAILED (no result)")
	case $line in
	*", no finding") echo "$line" ;;
	*)
		echo "$line; last lines:" >&2
		tail -n 40 "$out/$target.log" >&2 || true
		status=1
		;;
	esac
done
exit $status
