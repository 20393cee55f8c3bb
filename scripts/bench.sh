#!/usr/bin/env bash
# Benchmark of nix-layer-action against its baselines, all in one run:
#
#   issue 14: cold build+push to an empty repository (vs building alone
#             and stock skopeo copy of that layout, vs tar | pigz), the
#             --jobs/--upload-jobs matrix, a no-change rerun (wall time and
#             the exact registry requests, vs nix path-info), peak RSS of a
#             12-layer push and of one >= 2 GiB layer;
#   issue 10: fresh runners (every run from an EMPTY Nix store, closure
#             metadata and NARs from a signed binary cache on nginx): no
#             change, one upper layer changed, cold, and a >= 2 GiB layer
#             from a NAR stream, vs realise-then-build (nix copy --from).
#
#   ./scripts/bench.sh                  # writes bench/out/results.md (+ results.json)
#   BENCH_REPS=3 ./scripts/bench.sh     # repetitions of each compared figure (default 5)
#   BENCH_ONLY=cold,rerun ./scripts/bench.sh   # sections: cold,rerun,fresh,rss,bigfresh,seed,shards,scale
#   issue 20 (section "seed"): the seed-size fixture (one store path per
#             installed Debian package, ~1.5 GB of NAR, 12 layers) and its
#             bump pushed cold through a runner-like link (netns + veth
#             shaped by tc tbf, BENCH_SEED_UP=40,10 / BENCH_SEED_DOWN=100
#             MB/s), gzip and zstd, against the link bound, and on a
#             fresh runner (NARs from a zstd cache through the link);
#             BENCH_SEED_SECTIONS=push,fresh picks; written to
#             bench/out/seed.md (and appended to results.md);
#           section "shards": the bump pushed cold by N = 1, 2, 4 parts
#             (build --shard I/N), each part in its own namespace with its
#             own link (BENCH_SHARD_UP=10 MB/s), all at once, then the
#             final job (--cache-from every part); BENCH_SHARD_N=1,2,4,
#             BENCH_SHARD_REPS=1, BENCH_SHARD_FLAGS (e.g.
#             --layer-files=false) for every build; written to bench/out/shards.md;
#           section "scale": no-change reruns on a fresh runner (empty
#             store, narinfos through the link) at ~100, ~300 and all the
#             seed's paths (BENCH_SCALE_PATHS=100,300,0), and a warm
#             rerun (local store, registry on a host address) x10;
#             written to bench/out/scale.md.
#
# The closure is built once by real Nix from host files and kept (GC
# roots) with its binary caches under $BENCH_STATE (default
# /var/tmp/nla-bench): the first run spends a few minutes on xz; later
# runs reuse them. The registry, nginx and the scratch dir are removed on
# exit. Needs root (fresh stores are mount namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# --- tools ------------------------------------------------------------------
pkgs=(nix-bin docker-registry skopeo pigz time nginx xz-utils zstd util-linux tar curl iproute2)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "$(id -u)" = 0 ] || { echo "bench: needs root (fresh stores are mount namespaces)" >&2; exit 1; }
mkdir -p /nix/store /nix/var/nix
. ./scripts/nix-env.sh

STATE=${BENCH_STATE:-/var/tmp/nla-bench}
OUT=$ROOT/bench/out
mkdir -p "$STATE/roots" "$STATE/caches" "$OUT"
WORK=$(mktemp -d /tmp/nla-bench.XXXXXX)
REG_PID="" NGINX_PID=""
cleanup() {
  for pid in $REG_PID $NGINX_PID; do kill "$pid" 2>/dev/null || true; done
  for pid in $REG_PID $NGINX_PID; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$WORK/nla" .
go build -o "$WORK/benchtools" ./scripts/benchtools
REV=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench' ':!scripts/bench.sh' ':!scripts/benchtools' || echo "+dirty")

# --- issue 20: the seed-size fixture through a runner-like link ---------------
# The Nix file is generated once from this host's installed packages
# (BENCH_SEED_REGEN=1 regenerates it) and both variants are built once and
# kept with GC roots; later runs reuse them.
want() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
if want seed || want shards || want scale; then
  mkdir -p "$STATE/seed" "$STATE/roots/seed-base" "$STATE/roots/seed-bump"
  if [ ! -s "$STATE/seed/seed.nix" ] || [ -n "${BENCH_SEED_REGEN:-}" ]; then
    "$WORK/benchtools" seedfixture -out "$STATE/seed/seed.nix" -gb "${BENCH_SEED_GB:-1.5}" >&2
  fi
  echo "bench: building the seed fixture and its bump with nix (instant when built)..." >&2
  for v in base bump; do
    arg=false; [ $v = bump ] && arg=true
    nix-build "$STATE/seed/seed.nix" --arg bump $arg -A all -o "$STATE/roots/seed-$v/p" >/dev/null 2> "$WORK/nix-build-seed-$v.log" || { tail -20 "$WORK/nix-build-seed-$v.log" >&2; exit 1; }
    nix eval --json -f "$STATE/seed/seed.nix" --arg bump $arg layers > "$WORK/seed-$v.json"
  done
  # The bump's closure in a signed zstd binary cache, for the fresh-runner runs.
  if [ ! -s "$STATE/key.sec" ]; then
    nix key generate-secret --key-name nla-bench-1 > "$STATE/key.sec"
    chmod 600 "$STATE/key.sec"
  fi
  seedcache="$STATE/caches/seed-bump-zstd"
  if [ "$(cat "$seedcache.stamp" 2>/dev/null)" != "$(readlink "$STATE/roots/seed-bump/p")" ]; then
    echo "bench: writing the seed bump's zstd binary cache (once)..." >&2
    rm -rf "$seedcache" "$seedcache.stamp"
    nix copy --to "file://$seedcache?compression=zstd&secret-key=$STATE/key.sec" $(readlink "$STATE"/roots/seed-bump/p*)
    readlink "$STATE/roots/seed-bump/p" > "$seedcache.stamp"
  fi
fi
if want shards; then
  mkdir -p "$WORK/shards"
  "$WORK/benchtools" shards -nla "$WORK/nla" -work "$WORK/shards" -out "$OUT" -bump "$WORK/seed-bump.json" \
    -up-mbs "${BENCH_SHARD_UP:-10}" -down-mbs "${BENCH_SEED_DOWN:-100}" -n "${BENCH_SHARD_N:-1,2,4}" -reps "${BENCH_SHARD_REPS:-1}" -flags "${BENCH_SHARD_FLAGS:-}" -rev "$REV" > /dev/null
  if [ "${BENCH_ONLY:-}" = shards ]; then cat "$OUT/shards.md"; exit 0; fi
fi
if want scale; then
  mkdir -p "$WORK/scale"
  scaleup=${BENCH_SEED_UP:-40}
  "$WORK/benchtools" scale -nla "$WORK/nla" -work "$WORK/scale" -out "$OUT" -bump "$WORK/seed-bump.json" \
    -up-mbs "${scaleup%%,*}" -down-mbs "${BENCH_SEED_DOWN:-100}" -paths "${BENCH_SCALE_PATHS:-100,300,0}" -reps "${BENCH_SCALE_REPS:-3}" -rev "$REV" \
    -caches "$STATE/caches" -cache seed-bump-zstd -key "$(nix key convert-secret-to-public < "$STATE/key.sec")" > /dev/null
  if [ "${BENCH_ONLY:-}" = scale ]; then cat "$OUT/scale.md"; exit 0; fi
fi
if want seed; then
  mkdir -p "$WORK/seed"
  "$WORK/benchtools" seed -nla "$WORK/nla" -work "$WORK/seed" -out "$OUT" -base "$WORK/seed-base.json" -bump "$WORK/seed-bump.json" \
    -up-mbs "${BENCH_SEED_UP:-40,10}" -down-mbs "${BENCH_SEED_DOWN:-100}" -reps "${BENCH_SEED_REPS:-3}" -rev "$REV" \
    -sections "${BENCH_SEED_SECTIONS:-push,fresh}" -layer-files "${BENCH_SEED_LAYER_FILES:-true,false}" -caches "$STATE/caches" -cache seed-bump-zstd -key "$(nix key convert-secret-to-public < "$STATE/key.sec")" > /dev/null
  if [ "${BENCH_ONLY:-}" = seed ]; then cat "$OUT/seed.md"; exit 0; fi
fi

# --- the closure: real files, built by real Nix --------------------------------
# 12 groups of packages (one layer each): libraries, interpreters, Go
# binaries and sources, codecs, tools and an app. Each builder copies host
# files; $out/nix-support/depends names its deps so Nix records them as
# references. app2 is the app at another version (one upper layer
# changes); big is one >= 2 GiB path.
cat > "$STATE/fixture.nix" <<'EOF'
let
  system = "x86_64-linux";
  L = "/usr/lib/x86_64-linux-gnu";
  mk = name: deps: script: builtins.derivation {
    inherit name system deps;
    builder = "/bin/sh";
    PATH = "/usr/bin:/bin";
    args = [ "-c" ''
      set -e
      cpf() { d=$1; shift; mkdir -p "$d"; for f in "$@"; do if [ -e "$f" ]; then cp -rL "$f" "$d"/; fi; done; }
      mkdir -p $out/nix-support
      echo $deps > $out/nix-support/depends
      ${script}
    '' ];
  };
  libs = name: deps: files: mk name deps "cpf $out/lib ${builtins.concatStringsSep " " (map (f: "${L}/${f}") files)}";
  bins = name: deps: files: mk name deps "cpf $out/bin ${builtins.concatStringsSep " " (map (f: "/usr/bin/${f}") files)}";

  glibc = libs "glibc-2.36" [] [ "libc.so.6" "libm.so.6" "ld-linux-x86-64.so.2" "libpthread.so.0" "libdl.so.2" "librt.so.1" "libresolv.so.2" ];
  gcclibs = libs "gcc-libs-12.2" [ glibc ] [ "libgcc_s.so.1" "libstdc++.so.6" ];
  gconv = mk "glibc-gconv-2.36" [ glibc ] "cpf $out/lib ${L}/gconv";
  zlib = libs "zlib-1.2.13" [ glibc ] [ "libz.so.1" ];
  xzlibs = libs "xz-libs-5.4.1" [ glibc ] [ "liblzma.so.5" ];
  zstdlibs = libs "zstd-libs-1.5.4" [ glibc ] [ "libzstd.so.1" ];
  bzip2 = libs "bzip2-libs-1.0.8" [ glibc ] [ "libbz2.so.1.0" ];
  openssl = libs "openssl-3.0" [ glibc zlib ] [ "libcrypto.so.3" "libssl.so.3" ];
  gnutls = libs "gnutls-3.7.9" [ glibc zlib ] [ "libgnutls.so.30" "libnettle.so.8" "libhogweed.so.6" "libgmp.so.10" "libp11-kit.so.0" "libtasn1.so.6" "libidn2.so.0" "libunistring.so.2" ];
  icu = libs "icu-72.1" [ gcclibs ] [ "libicudata.so.72" "libicuuc.so.72" "libicui18n.so.72" ];
  perl = mk "perl-5.36.0" [ glibc zlib ] "cpf $out/lib ${L}/perl-base ${L}/libperl.so.5.36; cpf $out/bin /usr/bin/perl";
  perlmods = mk "perl-modules-5.36" [ perl ] "cpf $out/share /usr/share/perl";
  python = mk "python3-3.11.2" [ glibc zlib openssl xzlibs bzip2 ] "cpf $out/lib /usr/lib/python3.11 ${L}/libpython3.11.so.1.0; rm -rf $out/lib/python3.11/config-3.11-x86_64-linux-gnu; cpf $out/bin /usr/bin/python3.11";
  py = n: v: mk "python3.11-${n}-${v}" [ python ] "cpf $out/lib/python3.11/site-packages /usr/lib/python3/dist-packages/${n}";
  pip = py "pip" "23.0.1";
  setuptools = py "setuptools" "66.1.1";
  pygments = py "pygments" "2.14.0";
  cryptography = py "cryptography" "38.0.4";
  gotools = mk "go-tools-1.26" [ glibc ] "cpf $out/pkg /usr/local/go/pkg/tool";
  gosrc = mk "go-src-1.26" [ gotools ] "cpf $out/src /usr/local/go/src/runtime /usr/local/go/src/crypto";
  x265 = libs "x265-3.5" [ gcclibs ] [ "libx265.so.199" ];
  aom = libs "libaom-3.6.0" [ glibc ] [ "libaom.so.3" ];
  svtav1 = libs "svt-av1-1.4.1" [ glibc ] [ "libSvtAv1Enc.so.1" ];
  dav1d = libs "dav1d-1.0.0" [ glibc ] [ "libdav1d.so.6" ];
  sanitizers = libs "gcc-sanitizers-12.2" [ gcclibs ] [ "libasan.so.8" "libtsan.so.2" "liblsan.so.0" "libubsan.so.1" ];
  paks = [
    (bins "tmux-3.3a" [ glibc ] [ "tmux" "pzstd" ])
    (bins "gnupg-2.2.40" [ gnutls ] [ "gpg" "gpgcompose" ])
    (bins "openssh-9.2" [ openssl ] [ "ssh" "bash" ])
    (bins "zstd-1.5.4" [ zstdlibs openssl ] [ "zstd" "openssl" ])
    (bins "cscope-15.9" [ glibc ] [ "cscope" "troff" ])
    (bins "strace-6.1" [ glibc ] [ "strace" "busybox" ])
    (bins "git-2.39" [ perl zlib ] [ "git" "git-shell" "scalar" ])
    (bins "vim-9.0" [ python ] [ "vim.basic" "optscript" ])
  ];
  mkApp = version: mk "app-${version}" (paks ++ [ pip setuptools pygments cryptography gosrc icu x265 aom svtav1 dav1d sanitizers perlmods gconv ])
    "cpf $out/libexec /usr/bin/docker-registry; mkdir -p $out/bin; printf '#!/bin/sh\\necho app ${version}\\n' > $out/bin/app; chmod +x $out/bin/app";
  app = mkApp "1.0";
  app2 = mkApp "1.1";
  # symlinks kept (cp -r): 2 copies of the host libraries + the Go tree
  big = mk "big-data-1.0" [] "for i in 1 2; do mkdir -p $out/copy$i; cp -r ${L}/. $out/copy$i/; done; cp -r /usr/local/go $out/go";
  groups = top: [
    { name = "base"; deps = [ glibc gcclibs gconv ]; }
    { name = "netlibs"; deps = [ zlib xzlibs zstdlibs bzip2 openssl gnutls ]; }
    { name = "icu"; deps = [ icu ]; }
    { name = "perl"; deps = [ perl perlmods ]; }
    { name = "python"; deps = [ python ]; }
    { name = "python-pkgs"; deps = [ pip setuptools pygments cryptography ]; }
    { name = "go-tools"; deps = [ gotools ]; }
    { name = "go-src"; deps = [ gosrc ]; }
    { name = "media"; deps = [ x265 aom svtav1 dav1d ]; }
    { name = "sanitizers"; deps = [ sanitizers ]; }
    { name = "tools"; deps = paks; }
    { name = "app"; deps = [ top ]; }
  ];
in {
  inherit app app2 big;
  bench = { planA = groups app; planB = groups app2; inherit app app2 big; };
}
EOF
echo "bench: building the closure with nix (instant when $STATE/roots is current)..." >&2
for a in app app2 big; do
  nix build -f "$STATE/fixture.nix" "$a" --out-link "$STATE/roots/$a" 2> "$WORK/nix-build-$a.log" || { cat "$WORK/nix-build-$a.log" >&2; exit 1; }
done
nix eval --json -f "$STATE/fixture.nix" bench > "$WORK/fixture.json"
APP=$(readlink "$STATE/roots/app") APP2=$(readlink "$STATE/roots/app2") BIG=$(readlink "$STATE/roots/big")

# --- signed binary caches (nix copy --to file://), kept between runs -----------
if [ ! -s "$STATE/key.sec" ]; then
  nix key generate-secret --key-name nla-bench-1 > "$STATE/key.sec"
  chmod 600 "$STATE/key.sec"
fi
KEY_PUB=$(nix key convert-secret-to-public < "$STATE/key.sec")
cache() { # cache NAME SETTINGS PATH...
  local name=$1 settings=$2; shift 2
  local dir="$STATE/caches/$name" stamp="$settings $*"
  if [ "$(cat "$dir.stamp" 2>/dev/null)" = "$stamp" ]; then return; fi
  echo "bench: writing the $name binary cache (once; xz takes minutes)..." >&2
  rm -rf "$dir" "$dir.stamp"
  local s; s=$(date +%s)
  nix copy --to "file://$dir?$settings&secret-key=$STATE/key.sec" "$@"
  echo "bench: $name cache written in $(( $(date +%s) - s )) s" >&2
  echo "$stamp" > "$dir.stamp"
}
cache xz "compression=xz&parallel-compression=true" "$APP" "$APP2"
cache zstd "compression=zstd" "$APP" "$APP2"
cache big "compression=xz&compression-level=1&parallel-compression=true" "$BIG"

# --- docker-registry and nginx on loopback ----------------------------------
REG_PORT=$("$WORK/benchtools" freeport)
mkdir -p "$WORK/registry"
cat > "$WORK/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $WORK/registry}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: 127.0.0.1:$REG_PORT, secret: nla-bench}
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry-access.log" 2>"$WORK/registry.log" &
REG_PID=$!

NGINX_PORT=$("$WORK/benchtools" freeport)
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
user root root;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log info;
events { worker_connections 256; }
http {
  log_format cache '\$request_method \$request_uri \$status \$body_bytes_sent \$bytes_sent';
  access_log $WORK/nginx/access.log cache;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  types { text/x-nix-narinfo narinfo; text/plain nix-cache-info; }
  default_type application/octet-stream;
  sendfile on;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $STATE/caches;
    location / { autoindex off; }
  }
}
EOF
/usr/sbin/nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$REG_PORT/v2/" >/dev/null && curl -fs "http://127.0.0.1:$NGINX_PORT/xz/nix-cache-info" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$REG_PORT/v2/" >/dev/null || { echo "bench: registry did not start:" >&2; cat "$WORK/registry.log" >&2; exit 1; }
curl -fs "http://127.0.0.1:$NGINX_PORT/xz/nix-cache-info" >/dev/null || { echo "bench: nginx did not start:" >&2; cat "$WORK/nginx/error.log" >&2; exit 1; }

# --- measure -------------------------------------------------------------------
"$WORK/benchtools" run -nla "$WORK/nla" -work "$WORK" -out "$OUT" -fixture "$WORK/fixture.json" -rev "$REV" \
  -registry "127.0.0.1:$REG_PORT" -registry-log "$WORK/registry-access.log" -registry-pid "$REG_PID" \
  -nginx "http://127.0.0.1:$NGINX_PORT" -nginx-log "$WORK/nginx/access.log" -caches "$STATE/caches" \
  -key "$KEY_PUB" -reps "${BENCH_REPS:-5}" -only "${BENCH_ONLY:-}"
if want seed; then { echo; cat "$OUT/seed.md"; } >> "$OUT/results.md"; fi
if want shards; then { echo; cat "$OUT/shards.md"; } >> "$OUT/results.md"; fi
if want scale; then { echo; cat "$OUT/scale.md"; } >> "$OUT/results.md"; fi
cat "$OUT/results.md"
