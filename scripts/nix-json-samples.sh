#!/usr/bin/env bash
# Regenerates the real `nix build --json` and `nix path-info --json` samples
# in internal/testutil/actionrunner/testdata from each Nix version's action
# image (scripts/action-image.sh bookworm|trixie|sid: Nix 2.8, 2.26, 2.34).
# The flake is the same three-derivation closure every time (app -> lib,
# app -> data, lib -> data), so the samples differ only where Nix does.
# Stderr of every call is kept too (deprecation warnings, rejected flags,
# exit codes in *.exit).
set -euo pipefail
cd "$(dirname "$0")/.."
out=internal/testutil/actionrunner/testdata
mkdir -p "$out"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/flake.nix" <<'NIX'
{
  outputs = { self }:
    let
      mk = name: script: builtins.derivation {
        inherit name;
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" script ];
      };
    in rec {
      packages.x86_64-linux = rec {
        data = mk "data-1.0" "echo data > $out";
        lib = mk "lib-1.0" "echo ${data} > $out";
        app = mk "app-1.0" "echo ${lib} ${data} > $out";
      };
    };
}
NIX

# The calls, one per line: sample file suffix, then the nix arguments.
calls='build-dry-run-before	build --dry-run --no-link --json .#app .#lib
build	build --no-link --json .#app .#lib
build-opaque	build --no-link --json $(nix eval --raw .#data.outPath 2>/dev/null) .#lib
build-dry-run	build --dry-run --no-link --json .#app .#lib
pathinfo	path-info --json --recursive .#app
pathinfo-invalid	path-info --json /nix/store/00000000000000000000000000000000-missing-1.0 .#lib
pathinfo-json-format-flag	path-info --json --json-format 1 .#lib'
calls234='pathinfo-format1	path-info --json --json-format 1 --recursive .#app
pathinfo-format2	path-info --json --json-format 2 --recursive .#app
pathinfo-invalid-format2	path-info --json --json-format 2 /nix/store/00000000000000000000000000000000-missing-1.0 .#lib
build-json-format-flag	build --no-link --json --json-format 1 .#lib'

for suite in bookworm trixie sid; do
  image=$(scripts/action-image.sh "$suite" | tail -1)
  version=$(podman run --rm --runtime runc --network none --entrypoint nix "$image" --version | awk '{print $3}')
  short=${version%.*}
  script="cd /flake"
  all=$calls
  [ "$suite" = sid ] && all="$calls
$calls234"
  while IFS=$'\t' read -r name args; do
    script="$script; nix $args > /out/$name-$short.json 2> /out/$name-$short.stderr; echo \$? > /out/$name-$short.exit"
  done <<< "$all"
  podman run --rm --runtime runc --network none -v "$work:/flake:ro" -v "$(pwd)/$out:/out" \
    --entrypoint sh "$image" -c "$script"
  for f in "$out"/*-"$short".json; do
    if [ -s "$f" ]; then
      python3 -m json.tool --indent 2 "$f" > "$f.tmp" && mv "$f.tmp" "$f"
    else
      rm -f "$f" # the call failed; its .stderr says why
    fi
  done
  # Keep only stderr files that say something.
  find "$out" -name "*-$short.stderr" -empty -delete
  echo "nix-json-samples: $version -> $out/*-$short.*" >&2
done
