# make lint: shellcheck over every shell script in the repository and cppcheck
# over the C sources; any finding fails. make test runs it first (a second or
# two). A finding that is wrong is suppressed where it is, with the reason:
# "# shellcheck disable=SCnnnn" or "// cppcheck-suppress id".

# Tracked files that are shell scripts: *.sh, or a sh/bash shebang.
LINT_SH = $(shell git ls-files -z 2>/dev/null | xargs -0 -r awk \
	'FNR == 1 { if (FILENAME ~ /\.sh$$/ || $$0 ~ /^\#!.*[\/ ](ba|da)?sh( |$$)/) print FILENAME; nextfile }')
LINT_C = app/src bench tests/unit tests/fuzz tests/faults
CPPCHECK_FLAGS := --enable=warning,portability,performance --error-exitcode=1 \
	--inline-suppr --suppress=missingIncludeSystem --std=c11 --quiet

.PHONY: lint
lint:
	@deploy/deps/install-deps.sh test
	@[ -n "$(LINT_SH)" ] || { echo "lint: no shell scripts found (git ls-files)" >&2; exit 1; }
	shellcheck $(LINT_SH)
	cppcheck $(CPPCHECK_FLAGS) $(LINT_C)
