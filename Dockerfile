# syntax=docker/dockerfile:1
#
# The image behind `uses: org/nix-layer-action@v1` (action.yml points at the
# prebuilt ghcr.io/org/nix-layer-action:v1, built by .github/workflows/release.yml).
# A container action does not see the runner's /nix/store, so the image
# carries Nix itself and builds the plan's installables from the checked-out
# flake in /github/workspace, using the substituters given via `nix-conf`.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN go build -trimpath -ldflags="-s -w" -o /nix-layer-action .

FROM nixos/nix:latest
RUN mkdir -p /etc/nix \
 && printf '%s\n' \
      'experimental-features = nix-command flakes' \
      'accept-flake-config = false' \
      'max-jobs = auto' \
      >> /etc/nix/nix.conf
# The workspace is checked out by the runner's user, not root: let git (used
# by Nix to read the local flake) accept it.
ENV GIT_CONFIG_COUNT=1 \
    GIT_CONFIG_KEY_0=safe.directory \
    GIT_CONFIG_VALUE_0=*
COPY --from=build /nix-layer-action /usr/local/bin/nix-layer-action
# With no subcommand and GITHUB_ACTIONS=true the binary runs as the action;
# elsewhere it is the normal CLI.
ENV GITHUB_ACTIONS=true
ENTRYPOINT ["/usr/local/bin/nix-layer-action"]
