#!/usr/bin/env node
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, median, root, vaultctlIn, version } from './lib.mjs';

const runs = Number(arg('--runs', '3'));
const sizes = arg('--sizes', '200,10000').split(',').map(Number);
const name = 'vctl-bench-sealmig';
const { connectVaultNode } = await import(join(root, 'dist/vault/api.js'));

function workspace() {
  const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-sealmig-'));
  writeFileSync(
    join(cwd, 'vaultctl.yaml'),
    `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: 18980\n`,
  );
  const vaultctl = vaultctlIn(cwd).must;
  return { cwd, vaultctl };
}

async function writeSecrets(cwd, n) {
  const state = join(cwd, '.vaultctl', name);
  const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  const api = connectVaultNode({ address: 'https://127.0.0.1:18986', token, tls: { ca } });
  const value = 'x'.repeat(256);
  for (let i = 0; i < n; i += 50)
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, j) =>
        api.kvPut('secret', `tenants/t${(i + j) % 10}/exchanges/x${i + j}/trading`, { api_key: value }),
      ),
    );
  // A new client afterwards: the endpoint and every node restarted, pooled connections are gone.
  return () => connectVaultNode({ address: 'https://127.0.0.1:18986', token, tls: { ca } });
}

const results = [];
for (const size of sizes) {
  const times = [];
  for (let r = 0; r < runs; r++) {
    const { cwd, vaultctl } = workspace();
    try {
      vaultctl('up', '-q');
      vaultctl('init', '-q');
      const client = await writeSecrets(cwd, size);
      // After thousands of writes the followers are still applying them: autopilot calls them
      // unhealthy and the migration (rightly) refuses. An operator waits for health first; so do we.
      const settled = vaultctl('health', '--wait', '120s', '-q');
      if (size >= 1000)
        process.stderr.write(
          `${size} secrets: healthy again ${(settled.ms / 1000).toFixed(1)} s after the writes\n`,
        );
      const m = vaultctl('seal', 'migrate', '--to', 'transit', '--yes', '-q');
      times.push(m.ms);
      const probe = await client().kvGet(
        'secret',
        `tenants/t${(size - 1) % 10}/exchanges/x${size - 1}/trading`,
      );
      if (!probe) throw new Error('a secret is missing after the migration');
      process.stderr.write(`${size} secrets, run ${r + 1}: ${(m.ms / 1000).toFixed(1)} s\n`);
    } catch (err) {
      // The message only: the error objects of the API client carry the request's token header.
      process.stderr.write(`${size} secrets, run ${r + 1} failed: ${err.message}\n`);
      process.exitCode = 1;
    } finally {
      vaultctlIn(cwd).down();
      rmSync(cwd, { recursive: true, force: true });
    }
  }
  results.push({
    secrets: size,
    runs: times.length,
    medianS: +(median(times) / 1000).toFixed(1),
    allS: times.map((t) => +(t / 1000).toFixed(1)),
  });
}
console.log(
  `seal migrate static -> transit, OpenBao ${version}, 3 nodes (includes the snapshot and starting the unsealer)`,
);
console.table(results);
