#!/usr/bin/env bash
# Runs every test of the given packages alone, each in an empty Nix store of
# its own (scripts/fresh-store.sh), and lists those that fail: a test that
# passes in scripts/test.sh but fails here leans on a store path that
# another test of its package built. Slower than scripts/test.sh (each test
# builds its fixtures again); an audit, not part of CI.
#
#   scripts/test-isolated.sh [PACKAGE...]     # default: ./e2e/
#   RUN=REGEXP scripts/test-isolated.sh ./e2e/   # only tests matching REGEXP
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
[ $# -gt 0 ] || set -- ./e2e/
. ./scripts/nix-env.sh
export CI=true
bin=$(mktemp -d /tmp/nla-isolated-XXXXXX)
trap 'rm -rf "$bin"' EXIT
failed=() passed=0
for pkg in "$@"; do
  name=$(echo "$pkg" | tr -c 'a-zA-Z0-9\n' _)
  go test -c -o "$bin/$name.test" "$pkg"
  [ -x "$bin/$name.test" ] || continue # no tests
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for t in $(cd "$dir" && "$bin/$name.test" -test.list "${RUN:-.}" | grep '^Test'); do
    if (cd "$dir" && "$here/scripts/fresh-store.sh" "$bin/$name.test" -test.run "^$t\$" -test.count=1 -test.timeout 20m) > "$bin/$t.log" 2>&1; then
      passed=$((passed + 1))
    else
      failed+=("$pkg $t")
      echo "FAIL alone: $pkg $t" >&2
      tail -20 "$bin/$t.log" >&2
    fi
  done
done
echo "$passed passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
