#!/usr/bin/env bash
# Runs Go tests against another Nix version, without touching the host's
# Nix (2.8) or its store:
#
#   scripts/nix-versions.sh bookworm|trixie|sid [GO TEST ARGS...]
#   scripts/nix-versions.sh sid -run Integration ./internal/closure/
#   scripts/nix-versions.sh trixie -run 'TestE2ERegistryPushPullRun|TestE2EOnePackageChange' ./e2e/
#
# (bookworm: Nix 2.8, trixie: 2.26, sid: 2.34; default test args: the Nix
# integration tests of internal/closure and internal/nixdb.)
#
# `go test` runs in a private mount namespace in which
#   - /nix is a new, empty store used only by this run (never the host's:
#     newer Nix upgrades the database schema, which 2.8 cannot read back);
#   - `nix`, `nix-store`, `nix-instantiate`, … on PATH are wrappers that run
#     that suite's Nix in a chroot (scripts/rootfs.sh nix SUITE, unpacked
#     once under /var/cache/nix-layer-action) whose /nix is the same store,
#     so store paths the tests read on the host are the ones Nix wrote;
#     (a non-root caller, which cannot chroot, gets the same binary through
#     the chroot's dynamic loader);
#   - the chroot sees /tmp (test flakes), this worktree, /proc, /dev and the
#     host's busybox at their host paths (the fixture flake's builders
#     run /bin/sh and the host's static busybox, with sandbox = false).
# Everything else (docker-registry, skopeo, podman, …) is the host's.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

suite=${1:-}
case "$suite" in bookworm|trixie|sid) shift ;; *) echo "usage: $0 bookworm|trixie|sid [go test args...]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "nix-versions: needs root (chroot, mount namespace)" >&2; exit 1; }
[ $# -gt 0 ] || set -- -run 'Integration|TestNixVerifiesGeneratedDB|TestImageContentsThroughLayer' ./internal/closure/ ./internal/nixdb/

CACHE=${NLA_CACHE:-/var/cache/nix-layer-action}
tarball=$(scripts/rootfs.sh nix "$suite")
root=$CACHE/chroot-$(basename "$tarball" .tar | sed 's/^rootfs-//')
if [ ! -x "$root/usr/bin/nix" ]; then
  unpack=$(mktemp -d "$CACHE/.chroot-XXXXXX")
  tar -xf "$tarball" -C "$unpack"
  mv -T "$unpack" "$root" 2>/dev/null || rm -rf "$unpack" # lost a race: keep the other
fi

run=$(mktemp -d /var/tmp/nla-nix-versions-XXXXXX)
trap 'rm -rf "$run"' EXIT
mkdir -p "$run/store" "$run/bin"
chmod 755 "$run" "$run/bin"
# The wrapper runs the tool in the chroot with the caller's /nix bind-mounted
# on the chroot's, in a mount namespace of its own, so that a test which
# mounts another store on /nix (binarycache.FreshStore) is followed.
cat > "$run/wrapper.in" <<'WRAP'
#!/bin/sh
# @NAME@ of Debian @SUITE@ from @ROOT@, in the current directory, on the
# caller's /nix. Root runs it in the chroot; another user (tests that drop
# privileges to check a store) cannot, and runs the same binary through the
# chroot's dynamic loader.
if [ "$(id -u)" = 0 ]; then
  exec unshare -m --propagation private -- /bin/sh -c '
    mount --bind /nix "$0/nix" &&
    exec chroot "$0" /bin/sh -c "cd \"\$0\" && exec /usr/bin/@NAME@ \"\$@\"" "$@"' "@ROOT@" "$PWD" "$@"
fi
exec "@ROOT@/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
  --library-path "@ROOT@/usr/lib/x86_64-linux-gnu:@ROOT@/usr/lib/nix" \
  --argv0 "@NAME@" "@ROOT@/usr/bin/nix" "$@"
WRAP
for tool in "$root"/usr/bin/nix*; do
  name=$(basename "$tool")
  sed -e "s|@NAME@|$name|g" -e "s|@SUITE@|$suite|g" -e "s|@ROOT@|$root|g" "$run/wrapper.in" > "$run/bin/$name"
  chmod 755 "$run/bin/$name"
done

busybox=$(command -v busybox || true)
export NLA_ROOT=$root NLA_STORE=$run/store NLA_HERE=$here NLA_BUSYBOX=$busybox
export PATH=$run/bin:$PATH
unshare --mount --propagation private -- bash -euo pipefail -c '
  mkdir -p /nix "$NLA_ROOT/nix" "$NLA_ROOT/tmp" "$NLA_ROOT$NLA_HERE"
  mount --bind "$NLA_STORE" /nix
  mount --bind "$NLA_STORE" "$NLA_ROOT/nix"
  mount --bind /tmp "$NLA_ROOT/tmp"
  mount --bind "$NLA_HERE" "$NLA_ROOT$NLA_HERE"
  mount -t proc proc "$NLA_ROOT/proc"
  mount --rbind /dev "$NLA_ROOT/dev"
  if [ -n "$NLA_BUSYBOX" ]; then
    mkdir -p "$NLA_ROOT$(dirname "$NLA_BUSYBOX")"
    touch "$NLA_ROOT$NLA_BUSYBOX"
    mount --bind "$NLA_BUSYBOX" "$NLA_ROOT$NLA_BUSYBOX"
  fi
  echo "nix-versions: $(nix --version) from $NLA_ROOT on PATH, store $NLA_STORE at /nix" >&2
  exec go test -count=1 "$@"
' nix-versions "$@"
