#!/usr/bin/env bash
# The whole test suite: setup (idempotent), lint + format check, type check, then every vitest
# project: unit (pure logic) and integration (real Docker Engine, real OpenBao clusters, the built
# CLI). Nothing is skipped for lack of Docker: setup installs and starts it, or the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== lint and format (biome)" >&2
npm run -s lint
echo "== type check (tsc)" >&2
npm run -s typecheck

# Lets the unit test of the ELF inspection run against the real static binary.
VAULTCTL_TEST_BAO=$(bash scripts/setup.sh --print-bao)
export VAULTCTL_TEST_BAO

results=$(mktemp /tmp/vaultctl-test-results.XXXXXX.json)
trap 'rm -f "$results"' EXIT
echo "== vitest (unit + integration)" >&2
set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?
set -e
# One plain closing line, whatever the reporter printed above.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || echo "0 passed, 1 failed"
exit $status
