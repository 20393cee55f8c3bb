#!/usr/bin/env bash
# Benchmark: cold build+push throughput vs `tar | pigz` and `tar | gzip` over
# the same store paths, no-change rerun wall time and bytes uploaded (vs
# `nix path-info` alone), and peak RSS building a >= 2 GiB layer.
#
#   ./scripts/bench.sh            # writes bench/out/results.md
#   BENCH_BIG_MB=2200 ./scripts/bench.sh
#
# Needs: the packages of setup-debian.sh (real Nix, docker-registry), GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
./scripts/setup-debian.sh >/dev/null
. ./scripts/nix-env.sh

OUT=$ROOT/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/nla-bench.XXXXXX)
trap 'kill $REG_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

go build -o "$WORK/nix-layer-action" .
BIN=$WORK/nix-layer-action

# --- a realistic closure, built by real Nix ------------------------------
# "framework": the Go toolchain tree (≈270 MB of binaries and sources, a
# realistic compression mix); "libs": host shared libraries; small packages
# on top referencing both. "big": one >= 2 GiB path for the RSS figure.
BIG_MB=${BENCH_BIG_MB:-2100}
mkdir -p "$WORK/flake"
cat > "$WORK/flake/flake.nix" <<EOF
{
  outputs = { self }: let
    sys = "x86_64-linux";
    drv = name: script: deps: builtins.derivation {
      inherit name; system = sys; builder = "/bin/sh";
      args = [ "-c" script ];
      PATH = "/usr/bin:/bin";
      deps = deps;
    };
    framework = drv "framework-1.26" "mkdir -p \$out && cp -r /usr/local/go/. \$out/" [];
    libs = drv "hostlibs-1.0" "mkdir -p \$out/lib && cp -r /usr/lib/x86_64-linux-gnu/perl-base /usr/lib/x86_64-linux-gnu/gconv \$out/lib/ 2>/dev/null; cp /usr/lib/x86_64-linux-gnu/*.so* \$out/lib/ 2>/dev/null; true" [];
    pak = i: drv "pak\${toString i}-1.\${toString i}.0" "mkdir -p \$out/lib && echo \$deps > \$out/lib/deps && seq 1 20000 > \$out/lib/data" [ framework libs ];
    paks = builtins.genList (i: pak i) 8;
    app = drv "app-1.0" "mkdir -p \$out/bin && echo \$deps > \$out/bin/app" paks;
    big = drv "big-1.0" "mkdir -p \$out && i=0; while [ \$(du -sm \$out | cut -f1) -lt ${BIG_MB} ]; do mkdir -p \$out/\$i && cp -r /usr/lib/x86_64-linux-gnu/. \$out/\$i/ 2>/dev/null; i=\$((i+1)); done; true" [];
  in { packages.\${sys} = { inherit framework libs app big; }; };
}
EOF
echo "bench: building the closure with nix (first run copies ~$((BIG_MB+400)) MB)..." >&2
nix build --no-link --json "$WORK/flake#app" "$WORK/flake#framework" "$WORK/flake#libs" >"$WORK/built.json"
nix build --no-link --json "$WORK/flake#big" >"$WORK/big.json"
APP=$(nix path-info "$WORK/flake#app")
FRAMEWORK=$(nix path-info "$WORK/flake#framework")
LIBS=$(nix path-info "$WORK/flake#libs")
BIG=$(nix path-info "$WORK/flake#big")
mapfile -t CLOSURE < <(nix path-info --recursive "$APP")
CLOSURE_BYTES=$(du -scb "${CLOSURE[@]}" | tail -1 | cut -f1)

cat > "$WORK/plan.yaml" <<EOF
version: 1
layers:
  - name: libs
    deps: ["$LIBS"]
  - name: framework
    deps: ["$FRAMEWORK"]
  - name: app
    deps: ["$APP"]
EOF
cat > "$WORK/big.yaml" <<EOF
version: 1
layers:
  - name: big
    deps: ["$BIG"]
EOF

# --- a real registry ------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry"
cat > "$WORK/registry.yml" <<EOF
version: 0.1
storage: {filesystem: {rootdirectory: $WORK/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$PORT}
log: {level: error}
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2-$1:.2f}')"; }
mbps() { python3 -c "print(f'{$1/1e6/$2:.0f}')"; }

TAR_BYTES=$(tar -C / -cf - "${CLOSURE[@]#/}" | wc -c)
RUNS=${BENCH_RUNS:-3}
best() { sort -n | head -1; }

t_pigz=(); t_gzip=(); t_ours=()
for i in $(seq "$RUNS"); do
  sync; s=$(now); tar -C / -cf - "${CLOSURE[@]#/}" | pigz -6 >/dev/null; e=$(now); t_pigz+=("$(secs "$s" "$e")")
  s=$(now); tar -C / -cf - "${CLOSURE[@]#/}" | gzip -6 >/dev/null; e=$(now); t_gzip+=("$(secs "$s" "$e")")
  s=$(now); "$BIN" build --plan "$WORK/plan.yaml" --image "127.0.0.1:$PORT/bench/cold$i:latest" --report "$WORK/cold$i.json" >/dev/null 2>"$WORK/cold$i.log"; e=$(now)
  t_ours+=("$(secs "$s" "$e")")
done
P=$(printf '%s\n' "${t_pigz[@]}" | best); G=$(printf '%s\n' "${t_gzip[@]}" | best); O=$(printf '%s\n' "${t_ours[@]}" | best)

# --- no-change rerun ------------------------------------------------------
t_re=(); t_pi=()
for i in $(seq 5); do
  s=$(now); "$BIN" build --plan "$WORK/plan.yaml" --image "127.0.0.1:$PORT/bench/cold1:latest" --report "$WORK/rerun.json" >/dev/null 2>&1; e=$(now); t_re+=("$(secs "$s" "$e")")
  s=$(now); nix path-info --json --recursive "$LIBS" "$FRAMEWORK" "$APP" >/dev/null; e=$(now); t_pi+=("$(secs "$s" "$e")")
done
RE=$(printf '%s\n' "${t_re[@]}" | best); PI=$(printf '%s\n' "${t_pi[@]}" | best)
RE_BYTES=$(python3 -c "import json;print(json.load(open('$WORK/rerun.json'))['bytesPushed'])")
IMG_BYTES=$(python3 -c "import json;print(sum(l['size'] for l in json.load(open('$WORK/cold1.json'))['layers']))")
PIGZ_BYTES=$(tar -C / -cf - "${CLOSURE[@]#/}" | pigz -6 | wc -c)

# --- peak RSS for a >= 2 GiB layer ----------------------------------------
BIG_BYTES=$(du -sb "$BIG" | cut -f1)
/usr/bin/time -v "$BIN" build --plan "$WORK/big.yaml" --image "127.0.0.1:$PORT/bench/big:latest" --report "$WORK/big.json" >/dev/null 2>"$WORK/big.time"
RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$WORK/big.time")
BIG_WALL=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$WORK/big.time")
/usr/bin/time -v sh -c "tar -C / -cf - '${BIG#/}' | pigz -6 >/dev/null" 2>"$WORK/bigpigz.time"
PIGZ_RSS_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$WORK/bigpigz.time")

{
  echo "## Benchmark results ($(date -u +%Y-%m-%d), $(nproc) cores, best of $RUNS)"
  echo
  echo "Closure: ${#CLOSURE[@]} store paths, $((TAR_BYTES/1000000)) MB as tar."
  echo
  echo "| measurement | nix-layer-action | baseline | ratio |"
  echo "|---|---|---|---|"
  echo "| cold build+push to docker-registry vs \`tar \| pigz -6\` (MB/s of tar) | $(mbps "$TAR_BYTES" "$O") MB/s ($O s) | $(mbps "$TAR_BYTES" "$P") MB/s ($P s) | $(python3 -c "print(f'{$P/$O:.2f}×')") |"
  echo "| cold build+push vs \`tar \| gzip -6\` | $(mbps "$TAR_BYTES" "$O") MB/s | $(mbps "$TAR_BYTES" "$G") MB/s ($G s) | $(python3 -c "print(f'{$G/$O:.2f}×')") |"
  echo "| compressed size (pgzip level 6, 1 MiB blocks vs \`pigz -6\`) | $IMG_BYTES | $PIGZ_BYTES | $(python3 -c "print(f'{$IMG_BYTES/$PIGZ_BYTES:.3f}×')") |"
  echo "| no-change rerun: wall time vs \`nix path-info --json --recursive\` alone | $RE s | $PI s | overhead $(python3 -c "print(f'{$RE-$PI:.2f}')") s |"
  echo "| no-change rerun on a runner with no local state: bytes uploaded | $RE_BYTES | whole image: $IMG_BYTES (a tool that keys reuse on local state, e.g. nix2container on a fresh runner) | — |"
  echo "| peak RSS, one $((BIG_BYTES/1048576)) MiB layer built and pushed ($BIG_WALL) | $((RSS_KB/1024)) MiB | \`tar \| pigz\`: $((PIGZ_RSS_KB/1024)) MiB | — |"
} | tee "$OUT/results.md"
