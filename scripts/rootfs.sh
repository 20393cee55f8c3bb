#!/usr/bin/env bash
# Builds (once) and prints the path of a cached Debian root filesystem
# tarball, used as an offline stand-in for the action image's base images and
# as a chroot with another Nix version:
#
#   scripts/rootfs.sh nix SUITE   # SUITE: bookworm (Nix 2.8), trixie (2.26), sid (2.34)
#   scripts/rootfs.sh go          # bookworm + the host's Go toolchain (/usr/local/go)
#
# The "nix" rootfs mimics what the nixos/nix image provides: root, group
# nixbld with users nixbld1..32, /nix/store, and /etc/nix/nix.conf with
# `sandbox = false` and `build-users-group = nixbld`.
#
# Tarballs live in $NLA_CACHE (default /var/cache/nix-layer-action), named by
# suite and a hash of this script (and the Go version), so a rerun is instant
# and a change here builds a new one. Installs mmdebstrap if missing.
set -euo pipefail

CACHE=${NLA_CACHE:-/var/cache/nix-layer-action}
kind=${1:-}
suite=${2:-bookworm}

usage() { echo "usage: $0 nix bookworm|trixie|sid | $0 go" >&2; exit 2; }

need() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

# The nixos/nix image's users: root plus the nixbld build users.
nix_hook='set -e
chroot "$1" groupadd -g 30000 nixbld
for i in $(seq 1 32); do
  chroot "$1" useradd -u $((30000 + i)) -g nixbld -G nixbld -M -d /var/empty -s /usr/sbin/nologin -c "Nix build user $i" nixbld$i
done
mkdir -p "$1/nix/store" "$1/nix/var/nix" "$1/etc/nix" "$1/root"
printf "%s\n" "sandbox = false" "build-users-group = nixbld" > "$1/etc/nix/nix.conf"
rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin'

go_hook='set -e
cp -a /usr/local/go "$1/usr/local/go"
rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin'

case "$kind" in
  nix)
    case "$suite" in bookworm|trixie|sid) ;; *) usage ;; esac
    include=nix-bin,ca-certificates,git
    hook=$nix_hook
    key=$suite
    ;;
  go)
    suite=bookworm
    [ -x /usr/local/go/bin/go ] || { echo "rootfs: /usr/local/go/bin/go missing" >&2; exit 1; }
    include=ca-certificates,git,gcc,libc6-dev
    hook=$go_hook
    key=go-$(/usr/local/go/bin/go env GOVERSION)
    ;;
  *) usage ;;
esac

hash=$(printf '%s\n' "$include" "$hook" | sha256sum | cut -c1-12)
out=$CACHE/rootfs-$key-$hash.tar
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

need mmdebstrap
mkdir -p "$CACHE"
opts=(--variant=apt --include="$include" --customize-hook="$hook" --quiet)
# sid's Release file may be older than its Valid-Until on a mirror snapshot.
[ "$suite" = sid ] && opts+=(--aptopt='Acquire::Check-Valid-Until "false"')
tmp=$(mktemp "$CACHE/.rootfs-XXXXXX.tar")
trap 'rm -f "$tmp"' EXIT
echo "rootfs: building $out (mmdebstrap $suite)" >&2
mmdebstrap "${opts[@]}" "$suite" "$tmp" >&2
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
