#!/usr/bin/env bash
# Regenerates examples/quickstart from real Nix. Not run by the tests.
#
# The example is a tiny image that needs no Nix to build:
#   store/nix/store/<hash>-<name>/…  real store paths copied out of /nix/store
#                                     (modes and symlinks as in the store)
#   closure.json                      exportReferencesGraph output for them
#   nix-layers.yaml                   3 layers (base, libs, app) with store-path deps
#   change/                           the same image after a one-package change:
#     closure.json, nix-layers.yaml     app 1.0 → app 1.1 (busybox and libshared unchanged)
#     store/nix/store/<hash>-app-1.1    only the changed path; scripts/example.sh lays it
#                                       over store/ (so busybox is not committed twice)
#
# Requirements: nix (flakes), a static busybox on PATH, jq.
# Usage: examples/quickstart/regen.sh      (from anywhere)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
busybox=${BUSYBOX:-$(command -v busybox)}
export NIX_CONFIG="experimental-features = nix-command flakes
substituters =
sandbox = false
build-users-group ="

work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

cat > "$work/flake.nix" <<NIX
{
  outputs = { self }:
    let
      system = "x86_64-linux";
      mk = name: script: builtins.derivation {
        inherit name system;
        builder = "/bin/sh";
        args = [ "-c" ("set -e; B=$busybox; " + script) ];
      };
    in {
      packages.\${system} = rec {
        busybox = mk "busybox-1.36.1" ''
          \$B mkdir -p \$out/bin
          \$B cp \$B \$out/bin/busybox
          \$B chmod 0555 \$out/bin/busybox
          for a in sh echo cat id touch ls env; do \$B ln -s busybox \$out/bin/\$a; done
        '';
        libshared = mk "libshared-1.0" ''
          \$B mkdir -p \$out/lib \$out/share
          \$B echo "libshared 1.0" > \$out/lib/libshared.so.1
          \$B ln -s libshared.so.1 \$out/lib/libshared.so
          \$B echo "greetings from libshared" > \$out/share/greeting.txt
        '';
        app = mk "app-1.0" ''
          \$B mkdir -p \$out/bin
          \$B printf '#!%s/bin/sh\necho "hello from app"\nid -u\ncat %s/share/greeting.txt\n' "\${busybox}" "\${libshared}" > \$out/bin/app
          \$B chmod 0555 \$out/bin/app
        '';
        app2 = mk "app-1.1" ''
          \$B mkdir -p \$out/bin
          \$B printf '#!%s/bin/sh\necho "hello from app 1.1"\nid -u\ncat %s/share/greeting.txt\n' "\${busybox}" "\${libshared}" > \$out/bin/app
          \$B chmod 0555 \$out/bin/app
        '';
        closureGraph = builtins.derivation {
          name = "example-closure-graph";
          inherit system;
          builder = "/bin/sh";
          args = [ "-c" "$busybox cp .attrs.json \${placeholder "out"}" ];
          __structuredAttrs = true;
          exportReferencesGraph.closure = [ app ];
        };
        closureGraph2 = builtins.derivation {
          name = "example-closure-graph-change";
          inherit system;
          builder = "/bin/sh";
          args = [ "-c" "$busybox cp .attrs.json \${placeholder "out"}" ];
          __structuredAttrs = true;
          exportReferencesGraph.closure = [ app2 ];
        };
      };
    };
}
NIX

out() { nix build --no-link --json "$work#$1" | jq -r '.[0].outputs.out'; }
busybox_out=$(out busybox)
libshared_out=$(out libshared)
app_out=$(out app)
app2_out=$(out app2)
graph=$(out closureGraph)
graph2=$(out closureGraph2)

chmod -R u+w "$here/store" 2>/dev/null || true
rm -rf "$here/store"
mkdir -p "$here/store/nix/store"
for p in $(jq -r '.closure[].path' "$graph" | sort); do
  cp -a "$p" "$here/store/nix/store/"
done
jq '.closure | sort_by(.path)' "$graph" > "$here/closure.json"

# plan HEADER APP_OUT: the example's plan (the same for both closures but
# for its header comment and the app).
plan() {
  cat <<YAML
$1
version: 1
closure-graph: closure.json
store-root: store
layers:
  - name: base
    deps:
      - $busybox_out
  - name: libs
    deps:
      - $libshared_out
  - name: app
    deps:
      - $2
config:
  entrypoint: ["$2/bin/app"]
  env:
    - PATH=$busybox_out/bin
  working-dir: /
  labels:
    org.opencontainers.image.title: nix-layer-action example
YAML
}

plan "# Example plan that builds without Nix: the closure graph and the store tree
# are bundled (regenerate with regen.sh)." "$app_out" > "$here/nix-layers.yaml"

# The change: the same plan with app 1.1. Only paths the first closure lacks
# are copied; the rest are in store/ already.
chmod -R u+w "$here/change/store" 2>/dev/null || true
rm -rf "$here/change/store"
mkdir -p "$here/change/store/nix/store"
for p in $(jq -r '.closure[].path' "$graph2" | sort); do
  [ -e "$here/store$p" ] || cp -a "$p" "$here/change/store/nix/store/"
done
jq '.closure | sort_by(.path)' "$graph2" > "$here/change/closure.json"

plan "# The example plan after a one-package change: app 1.0 → app 1.1. Its store
# tree (store/) holds only the changed path; scripts/example.sh lays it over
# ../store before building (regenerate with ../regen.sh)." "$app2_out" > "$here/change/nix-layers.yaml"

du -sh "$here/store" "$here/change"
