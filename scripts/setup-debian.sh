#!/usr/bin/env bash
# Installs everything the tests and the example need on a fresh Debian machine
# with Go: Nix (single-user, as root), the CNCF registry, and the clients that
# pull and run what we push. Idempotent.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

pkgs=(nix-bin docker-registry skopeo umoci podman runc busybox-static pigz sqlite3 time nginx mmdebstrap uidmap zstd iproute2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# podman: runc works on these machines (crun does not), and the default
# ulimits cannot be applied inside the sandbox.
if [ ! -f /etc/containers/containers.conf ] || ! grep -q default_ulimits /etc/containers/containers.conf; then
  $SUDO mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' | $SUDO tee /etc/containers/containers.conf >/dev/null
fi

# Nix single-user as root: make sure the store and state dirs exist.
$SUDO mkdir -p /nix/store /nix/var/nix
echo "setup: ok ($(nix --version), $(docker-registry --version 2>/dev/null | head -1), skopeo $(skopeo --version | awk '{print $3}'))"
