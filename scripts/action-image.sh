#!/usr/bin/env bash
# Builds the action image from the repository's own Dockerfile, offline:
#
#   scripts/action-image.sh [bookworm|trixie|sid]    (default: bookworm)
#
# gives localhost/nix-layer-action:test-<suite>, whose runtime base is a
# Debian <suite> root filesystem with that suite's Nix (bookworm 2.8, trixie
# 2.26, sid 2.34) standing in for nixos/nix, and whose Go builder is a
# bookworm root filesystem with the host's Go standing in for golang. Both
# stand-ins come from scripts/rootfs.sh (cached tarballs) and are imported
# into podman once; the Dockerfile's FROM lines, pinned by digest, are
# replaced with `--build-context '<FROM ref>=container-image://<stand-in>'`,
# so the Dockerfile built here is byte for byte the one released.
#
# Go modules come from the host's GOPROXY (`go env GOPROXY`), reached through
# the host network (`--network host`), trusting the host's CA bundle. Reruns reuse podman's layer cache and
# take seconds. Prints the image name on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."

suite=${1:-bookworm}
case "$suite" in bookworm|trixie|sid) ;; *) echo "usage: $0 [bookworm|trixie|sid]" >&2; exit 2 ;; esac
image=localhost/nix-layer-action:test-$suite

need() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}
need podman runc uidmap

# import TARBALL NAME CHANGE... imports a rootfs tarball once; the tag
# carries the tarball's name (suite and content hash), so a new tarball gives
# a new image and an old one is reused.
import() {
  local tarball=$1 name=$2; shift 2
  local tag; tag=$name:$(basename "$tarball" .tar | sed 's/^rootfs-//')
  if ! podman image exists "$tag"; then
    local changes=()
    for c in "$@"; do changes+=(--change "$c"); done
    podman import --quiet "${changes[@]}" "$tarball" "$tag" >/dev/null
  fi
  echo "$tag"
}

nix_tar=$(scripts/rootfs.sh nix "$suite")
go_tar=$(scripts/rootfs.sh go)
nix_base=$(import "$nix_tar" localhost/nla-standin-nix \
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'ENV USER=root' 'WORKDIR /root')
go_base=$(import "$go_tar" localhost/nla-standin-go \
  'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  'ENV GOPATH=/go' 'ENV GOTOOLCHAIN=local' 'WORKDIR /go')

# The FROM references exactly as the Dockerfile writes them.
from_ref() {
  awk -v pat="$1" '$1 == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) break; if ($i ~ pat) { print $i; exit } }' Dockerfile
}
go_ref=$(from_ref '/golang:')
nix_ref=$(from_ref '/nix:')
if [ -z "$go_ref" ] || [ -z "$nix_ref" ]; then
  echo "action-image: cannot find the golang and nixos/nix FROM lines in Dockerfile" >&2
  exit 1
fi

# The host may reach the module proxy through a TLS-inspecting egress proxy
# whose CA only the host trusts: lend the host's bundle to the RUN steps (a
# build-time mount, not part of any layer).
ca=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  ca=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi

echo "action-image: building $image ($nix_ref <- $nix_base, $go_ref <- $go_base)" >&2
podman build --quiet --pull=never --runtime runc --network host --layers "${ca[@]}" \
  --build-arg TARGETOS=linux --build-arg TARGETARCH="$(go env GOARCH)" \
  --build-arg GOPROXY="$(go env GOPROXY 2>/dev/null || echo https://proxy.golang.org,direct)" \
  --build-context "$go_ref=container-image://$go_base" \
  --build-context "$nix_ref=container-image://$nix_base" \
  -t "$image" -f Dockerfile . >&2

version=$(podman run --rm --runtime runc --network none --entrypoint nix "$image" --version)
echo "action-image: $image has $version" >&2
echo "$image"
