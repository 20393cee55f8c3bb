# syntax=docker/dockerfile:1
#
# The image behind `uses: org/nix-layer-action@v1`. action.yml points at the
# prebuilt image that .github/workflows/release.yml builds, pushes and pins
# by digest. A container action does not see the runner's /nix/store, so the
# image carries Nix itself and builds the plan's installables from the
# checked-out flake in /github/workspace, using the substituters given via
# the `nix-conf` input.
#
# Both bases are pinned by version and digest (multi-arch index digests, as
# published on Docker Hub). To test offline, scripts/action-image.sh replaces
# them with local stand-ins through `--build-context '<FROM ref>=container-
# image://…'`; the key is the exact FROM reference below, digest included
# (podman matches the whole string, and does so with --platform too). Keep
# each FROM reference on one line.

# The binary is cross-compiled on the build platform (no QEMU for Go).
FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
ARG TARGETOS TARGETARCH
# Empty means Go's default proxy.
ARG GOPROXY
# What `nix-layer-action --version` and the first line of the action's log
# say; release.yml passes the tag (docs/action-image.md).
ARG VERSION=devel
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
# The build cache mount makes a rebuild after a source change incremental.
RUN --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X github.com/org/nix-layer-action/internal/cli.version=$VERSION" -o /nix-layer-action .

FROM docker.io/nixos/nix:2.34.8@sha256:1a711b619c8a713eff32c3f8d8781b3b4d0130cb91c0a57f67e87abfeeb90b01

# Everything Nix needs inside a `using: docker` step is stated here, not
# inherited from the base image:
# - flakes and the nix command are used for every call;
# - no sandbox: a docker action container has no user namespaces or mounts
#   (the runner starts it unprivileged with Docker's default seccomp);
# - builds run as the nixbld users (the group is created below if missing);
# - the workflow's flake never gets to change Nix settings (nixConfig);
# - substituters and keys are Nix's defaults, written out; the `nix-conf`
#   input adds to them through NIX_CONFIG.
RUN set -eu; \
    mkdir -p /etc/nix; \
    rm -f /etc/nix/nix.conf; \
    printf '%s\n' \
      '# Written by the nix-layer-action Dockerfile.' \
      'experimental-features = nix-command flakes' \
      'sandbox = false' \
      'build-users-group = nixbld' \
      'accept-flake-config = false' \
      'max-jobs = auto' \
      'substituters = https://cache.nixos.org/' \
      'trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=' \
      > /etc/nix/nix.conf; \
    if ! grep -q '^nixbld:' /etc/group; then \
      members=''; \
      for i in $(seq 1 32); do \
        echo "nixbld$i:x:$((30000 + i)):30000:Nix build user $i:/var/empty:/bin/false" >> /etc/passwd; \
        members="$members${members:+,}nixbld$i"; \
      done; \
      echo "nixbld:x:30000:$members" >> /etc/group; \
    fi; \
    rm -f /etc/gitconfig; \
    printf '%s\n' \
      '# Written by the nix-layer-action Dockerfile.' \
      '# The runner checks the workspace out as its own user (uid 1001 on' \
      '# GitHub-hosted runners); this container runs as root. Nix >= 2.20' \
      '# reads the flake through libgit2, which reads this file but ignores' \
      '# GIT_CONFIG_COUNT/GIT_CONFIG_KEY_n; git (Nix < 2.20) reads both.' \
      '[safe]' \
      '	directory = *' \
      > /etc/gitconfig; \
    mkdir -p /var/lib/nix-layer-action/xdg/cache /var/lib/nix-layer-action/xdg/config \
             /var/lib/nix-layer-action/xdg/data /var/lib/nix-layer-action/xdg/state

# The runner sets HOME=/github/home, a directory of the runner's temp dir
# owned by the runner's user. Keep Nix's caches and state out of it (root-
# owned files there outlive the step, and newer Nix warns about a HOME it
# does not own): the XDG directories live inside the container.
ENV XDG_CACHE_HOME=/var/lib/nix-layer-action/xdg/cache \
    XDG_CONFIG_HOME=/var/lib/nix-layer-action/xdg/config \
    XDG_DATA_HOME=/var/lib/nix-layer-action/xdg/data \
    XDG_STATE_HOME=/var/lib/nix-layer-action/xdg/state \
    GIT_CONFIG_COUNT=1 \
    GIT_CONFIG_KEY_0=safe.directory \
    GIT_CONFIG_VALUE_0=*

COPY --from=build /nix-layer-action /usr/local/bin/nix-layer-action
RUN /usr/local/bin/nix-layer-action --version
# With no subcommand and GITHUB_ACTIONS=true the binary runs as the action;
# elsewhere it is the normal CLI.
ENV GITHUB_ACTIONS=true
ENTRYPOINT ["/usr/local/bin/nix-layer-action"]
