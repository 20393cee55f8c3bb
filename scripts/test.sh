#!/usr/bin/env bash
# Runs the whole test suite, each package in an empty Nix store of its own:
# unit tests plus the integration tests against
# real Nix, a real docker-registry, a real binary cache (nginx), real
# skopeo/umoci/podman, the action's image built from the Dockerfile and run
# as the runner runs it (and through nektos/act); then the Nix-facing
# subset again under Nix 2.26 (Debian trixie) and 2.34 (sid), whose
# chroots are made once with mmdebstrap and cached under
# /var/cache/nix-layer-action. Installs what it needs first (Debian). Under
# CI=true a missing tool fails the tests instead of skipping them.
#
#   scripts/test.sh            everything
#   NLA_NIX_SUITES= scripts/test.sh   skip the other Nix versions
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
. ./scripts/nix-env.sh
go vet ./...
# Each package's test binary runs against an empty Nix store made for it
# (scripts/fresh-store.sh), never the host's: a test that leans on a store
# path another test, an earlier run or a person left fails here as it would
# on a fresh machine.
# (Needs root; anyone else runs on their own store, with a warning.)
fresh=(-exec "$PWD/scripts/fresh-store.sh")
if [ "$(id -u)" != 0 ] && [ "${CI:-}" != true ]; then
  echo "test: not root, so the tests use this machine's Nix store, not an empty one" >&2
  fresh=()
fi
go test -count=1 -timeout 75m "${fresh[@]}" ./...

# The same flake must give the same layer keys and digests under every Nix
# (TestE2EGoldenAcrossNixVersions), and plan, build, rerun, fresh-runner
# substitution and multi-arch must work with each Nix's JSON and CLI.
versions_run='Integration|TestNixVerifiesGeneratedDB|TestImageContentsThroughLayer|TestE2EGolden|TestE2ERegistryPushPullRun|TestE2EOnePackageChange|TestFreshRunner|TestE2EMultiArch|TestE2EPlatformMismatch|TestQuickstart'
for suite in ${NLA_NIX_SUITES-trixie sid}; do
  echo "== Nix of Debian $suite"
  ./scripts/nix-versions.sh "$suite" -timeout 20m -run "$versions_run" ./internal/closure/ ./internal/nixdb/ ./e2e/
done
