#!/usr/bin/env bash
# The quick start: shows what nix-layer-action is for, with only Go
# installed (no Nix, no registry). On the bundled example (examples/quickstart:
# a 3-layer plan over a small real store tree and its closure graph) it
#   1. starts an in-memory registry on a free loopback port,
#   2. builds and pushes the image,
#   3. builds again: 0 bytes uploaded, same digest,
#   4. applies a one-package change (app 1.0 → 1.1, examples/quickstart/change)
#      and pushes again: exactly one layer uploaded, the others cached.
# Each claim is checked against the JSON reports (check-report); the script
# exits non-zero, saying which claim failed, when one does not hold.
# Output goes to $QUICKSTART_OUT (default out/quickstart), emptied first.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
out=${QUICKSTART_OUT:-out/quickstart}
rm -rf "$out"
mkdir -p "$out/bin"

fail() { echo "example.sh: FAILED: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

step "building the CLI, the demo registry and the report checker (go build)"
go build -o "$out/bin/" . ./examples/quickstart/demo-registry ./examples/quickstart/check-report
nla=$out/bin/nix-layer-action
check=$out/bin/check-report

step "starting an in-memory registry (go-containerregistry) on loopback"
"$out/bin/demo-registry" -addr-file "$out/registry.addr" >/dev/null &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  [ -s "$out/registry.addr" ] && break
  kill -0 "$registry_pid" 2>/dev/null || fail "the demo registry exited before listening"
  sleep 0.05
done
[ -s "$out/registry.addr" ] || fail "the demo registry did not start listening within 5 s"
addr=$(cat "$out/registry.addr")
image=$addr/quickstart:latest
echo "registry listening on $addr (port ${addr##*:}); image $image"

step "plan: which store paths go into which layer"
"$nla" plan --plan examples/quickstart/nix-layers.yaml

build() { # build NAME PLAN: build and push, print the table, keep the report
  "$nla" build --plan "$2" --image "$image" --report "$out/$1.json" \
    || fail "nix-layer-action build ($1) exited with status $?"
}

step "build and push (the registry is empty: every layer is uploaded)"
build 1-first examples/quickstart/nix-layers.yaml
"$check" first "$out/1-first.json" | tee "$out/claims.txt"

step "build again, nothing changed: 0 bytes uploaded, same digest"
build 2-rerun examples/quickstart/nix-layers.yaml
"$check" rerun "$out/1-first.json" "$out/2-rerun.json" | tee -a "$out/claims.txt"

step "change one package (app 1.0 -> 1.1) and push: one layer uploaded"
# examples/quickstart/change/store holds only the changed path; lay it over
# the unchanged ones.
cp -a examples/quickstart/change "$out/change"
cp -a examples/quickstart/store/. "$out/change/store/"
build 3-change "$out/change/nix-layers.yaml"
"$check" change "$out/2-rerun.json" "$out/3-change.json" app | tee -a "$out/claims.txt"

step "every claim held ($(($(date +%s) - start)) s)"
cat "$out/claims.txt"
echo "reports: $out/1-first.json $out/2-rerun.json $out/3-change.json"
