#!/usr/bin/env bash
# Runs a command against an empty Nix store made for it alone, never the
# host's: a private mount namespace in which a new directory is mounted on
# /nix (Nix creates its database there on first use). The directory is
# removed when the command ends. scripts/test.sh gives it to `go test -exec`,
# so every package's test binary starts from an empty store: no test can
# lean on a store path that another package's test, an earlier run, or a
# person left behind.
#
#   scripts/fresh-store.sh COMMAND [ARGS...]
#
# Needs root (mount namespaces). NLA_FRESH_STORE_PARENT (default /var/tmp)
# holds the store directories.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fresh-store: needs root (mount namespace)" >&2; exit 1; }

parent=${NLA_FRESH_STORE_PARENT:-/var/tmp}
store=$(mktemp -d "$parent/nla-fresh-store-XXXXXX")
chmod 755 "$store"
cleanup() {
  # Nix leaves its store read-only (0555 directories, 0444 files).
  chmod -R u+w "$store" 2>/dev/null || true
  rm -rf "$store"
}
trap cleanup EXIT
mkdir -p /nix
# Not exec: the trap must run after the command to remove the store.
unshare --mount --propagation private -- /bin/sh -c '
  store=$1; shift
  mount --bind "$store" /nix || exit 1
  mkdir -p /nix/store /nix/var/nix
  if [ -n "$(ls -A /nix/store)" ]; then
    echo "fresh-store: /nix/store is not empty" >&2; exit 1
  fi
  exec "$@"' fresh-store "$store" "$@"
