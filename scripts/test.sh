#!/usr/bin/env bash
# Runs the whole test suite: unit tests plus the integration tests against
# real Nix, a real docker-registry and real skopeo/umoci/podman. Installs what
# it needs first (Debian). Under CI=true a missing tool fails the tests
# instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-debian.sh
. ./scripts/nix-env.sh
go vet ./...
go test -count=1 -timeout 75m ./...
