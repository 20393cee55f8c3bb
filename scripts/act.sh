#!/usr/bin/env bash
# Runs a workflow with nektos/act in container mode, with podman as the
# Docker engine, offline:
#
#   scripts/act.sh REPO [ACT ARGS...]     e.g. scripts/act.sh /tmp/repo pull_request -e event.json
#   scripts/act.sh                        runs the act self-test (TestAct in
#                                         internal/testutil/actionrunner), which
#                                         builds such a repo with `uses: ./`
#
# - installs act v0.2.89 with `go install` when it is missing (the Go module
#   proxy is the only source needed);
# - starts `podman system service` on a private socket for the run (stopped
#   on exit) unless DOCKER_HOST is already set;
# - uses a local job image for ubuntu-latest (NLA_ACT_JOB_IMAGE, default: a
#   Debian bookworm image imported from scripts/rootfs.sh), --pull=false, and
#   does not mount the engine socket into the containers.
#
# actions/checkout needs no network: act skips a `uses: actions/checkout`
# step that names neither `repository` nor `ref`, because it has copied the
# repository into the job container already (isLocalCheckout in act's
# pkg/runner). The docker action's image must exist locally (action.yml's
# `image: docker://<local tag>`); with --pull=false act does not pull it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ACT_VERSION=v0.2.89

if [ $# -eq 0 ]; then
  cd "$here"
  exec go test -count=1 -run '^TestAct$' -v ./internal/testutil/actionrunner
fi
repo=$1
shift

need() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}
need podman runc

act=$(command -v act || true)
gobin=$(go env GOBIN)
gobin=${gobin:-$(go env GOPATH)/bin}
if [ -z "$act" ] || ! "$act" --version 2>/dev/null | grep -q "${ACT_VERSION#v}"; then
  act=$gobin/act
  if ! "$act" --version 2>/dev/null | grep -q "${ACT_VERSION#v}"; then
    echo "act.sh: installing act $ACT_VERSION" >&2
    GOFLAGS= go install "github.com/nektos/act@$ACT_VERSION"
  fi
fi

job_image=${NLA_ACT_JOB_IMAGE:-localhost/nla-act-job:bookworm}
if ! podman image exists "$job_image"; then
  tarball=$("$here/scripts/rootfs.sh" nix bookworm)
  podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$job_image" >/dev/null
fi

# act keeps a tool cache volume; remove it afterwards unless it was there.
had_toolcache=$(podman volume exists act-toolcache && echo yes || true)
service_pid=
cleanup() {
  if [ -z "$had_toolcache" ]; then podman volume rm -f act-toolcache >/dev/null 2>&1 || true; fi
  if [ -n "$service_pid" ]; then
    kill "$service_pid" 2>/dev/null || true
    wait "$service_pid" 2>/dev/null || true
    rm -f "$sock"
  fi
}
trap cleanup EXIT
if [ -z "${DOCKER_HOST:-}" ]; then
  sock=$(mktemp -u /run/podman-act-XXXXXX.sock)
  podman --runtime runc system service --time=0 "unix://$sock" &
  service_pid=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "act.sh: podman system service did not start" >&2; exit 1; }
  export DOCKER_HOST=unix://$sock
fi

cd "$repo"
"$act" --pull=false --container-daemon-socket - -P "ubuntu-latest=$job_image" "$@"
