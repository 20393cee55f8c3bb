#!/usr/bin/env bash
# Runs the main job on the bundled example (examples/quickstart): a 3-layer plan
# over a small real store tree and its closure graph, so it needs only Go —
# no Nix, no registry. Writes an OCI image layout to out/example and a JSON
# report to out/example-report.json, then builds it again to show the digest
# is the same bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
go build -o out/nix-layer-action .
echo "== plan: which store paths go into which layer"
out/nix-layer-action plan --plan examples/quickstart/nix-layers.yaml
echo
echo "== build to an OCI layout"
rm -rf out/example
out/nix-layer-action build --plan examples/quickstart/nix-layers.yaml \
  --output oci:out/example --report out/example-report.json
first=$(python3 -c 'import json;print(json.load(open("out/example-report.json"))["digest"])' 2>/dev/null || grep -o '"digest": *"sha256:[0-9a-f]*"' out/example-report.json | head -1)
echo
echo "== build again: same digest"
rm -rf out/example2
out/nix-layer-action build --plan examples/quickstart/nix-layers.yaml --output oci:out/example2 | tail -1
if command -v skopeo >/dev/null; then
  echo
  echo "== skopeo reads the layout"
  skopeo inspect oci:out/example | head -20
fi
echo
echo "image layout: out/example   report: out/example-report.json"
