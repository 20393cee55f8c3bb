# Sourced by the scripts: Nix settings for an offline machine (no binary
# cache reachable, no build sandbox).
export NIX_CONFIG="experimental-features = nix-command flakes
substituters =
sandbox = false
build-users-group ="
