#!/usr/bin/env bash
# Long reliability runs and fuzzing (issue 5). Not part of CI (the short
# versions of the same tests run there); run it before a release and record
# the figures it prints in docs/reliability.md and the README.
#
#   scripts/reliability.sh            # long tests + every fuzz target for 30s
#   FUZZTIME=2m scripts/reliability.sh
#   SKIP_LONG=1 scripts/reliability.sh   # fuzz only
#
# Long tests: 50 consecutive pushes through a proxy faulting 10% of
# requests, 30 SIGKILLs at random points of a push with resumption, plus the
# other reliability tests. Figures are the lines starting with FIGURE.
#
# A failure rate for faulted pushes takes hundreds of pushes; run them apart,
# several seeds at once (each push is mostly waiting on backoff):
#   go test -c -o /tmp/e2e.test ./e2e && cd e2e && /tmp/e2e.test -test.run 'TestReliabilityFaultyPushes$' \
#     -test.timeout 90m -reliability.pushes 150 -reliability.seed 21
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f ./scripts/nix-env.sh ]; then . ./scripts/nix-env.sh; fi
export CI=true
FUZZTIME=${FUZZTIME:-30s}
log=$(mktemp -t nix-layer-action-reliability.XXXXXX)
start=$(date +%s)

if [ -z "${SKIP_LONG:-}" ]; then
	echo "== long reliability tests"
	go test -count=1 -timeout 60m -run 'TestReliability' -v ./e2e/ -args -reliability.long | tee "$log" |
		grep -E '^(--- |ok|FAIL|panic)|FIGURE' || true
	if grep -q '^FAIL' "$log" || ! grep -q '^--- PASS: TestReliability' "$log"; then
		echo "reliability tests FAILED (log: $log)" >&2
		exit 1
	fi
fi

echo "== fuzzing, $FUZZTIME per target"
# Every fuzz target in the tree ("DIR NAME"), found rather than listed, so
# a new one is fuzzed and a removed one is not asked for.
mapfile -t targets < <(grep -rl --include='*_test.go' '^func Fuzz' . |
	while read -r f; do
		grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |$(dirname "$f") |"
	done | sort)
if [ "${#targets[@]}" -eq 0 ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi
for t in "${targets[@]}"; do
	set -- $t
	out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" 2>&1) || {
		echo "$out" | tail -30
		echo "FUZZ $1 $2 FAILED: a crasher was written under $1/testdata/fuzz/$2; fix it and commit the entry" >&2
		exit 1
	}
	execs=$(echo "$out" | grep -o 'execs: [0-9]*' | tail -1 | awk '{print $2}')
	echo "FIGURE fuzz $1 $2: $FUZZTIME, ${execs:-?} execs, no failures"
done
echo "== done in $(( $(date +%s) - start ))s (test log: ${log})"
