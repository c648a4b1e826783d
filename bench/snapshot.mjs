#!/usr/bin/env node
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, median, root, vaultctlIn, version } from './lib.mjs';

const runs = Number(arg('--runs', '3'));
const sizes = arg('--sizes', '1000,10000').split(',').map(Number);
const name = 'vctl-bench-snap';
const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-snap-'));
writeFileSync(
  join(cwd, 'vaultctl.yaml'),
  `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: 18430\n`,
);
const _env = cliEnv;
const cli = vaultctlIn(cwd);
const vaultctl = cli.must;
const { VaultClient } = await import(join(root, 'dist/client/index.js'));

try {
  vaultctl('up', '-q');
  vaultctl('init', '-q');
  const state = join(cwd, '.vaultctl', name);
  const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  const client = new VaultClient({
    addresses: ['https://127.0.0.1:18430'],
    token,
    ca,
    cache: { enabled: false },
    env: {},
  });
  const value = 'x'.repeat(1024);
  const dir = join(cwd, 'snaps');
  mkdirSync(dir);
  let written = 0;
  const rows = [];
  for (const n of sizes) {
    const t0 = performance.now();
    while (written < n) {
      const batch = Array.from({ length: Math.min(64, n - written) }, (_, i) => written + i);
      await Promise.all(batch.map((i) => client.writeSecret(`bench/${i}`, { value })));
      written += batch.length;
    }
    console.error(
      `  ${n} secrets of 1 KiB in place (${((performance.now() - t0) / 1000).toFixed(1)} s to write)`,
    );
    const save = [];
    const restore = [];
    const dataAt = [];
    let bytes = 0;
    for (let r = 0; r < runs; r++) {
      const s = vaultctl('snapshot', 'save', '--dir', dir, '--format', 'json', '-q');
      const meta = JSON.parse(s.out);
      save.push(s.ms);
      bytes = meta.size;
      const rs = vaultctl('snapshot', 'restore', join(dir, meta.file), '--yes', '--format', 'json', '-q');
      restore.push(rs.ms);
      // Inside the restore command: until every node answers with the restored data.
      dataAt.push(JSON.parse(rs.out).dataOnEveryNodeSeconds * 1000);
      console.error(
        `  ${n}: run ${r + 1}/${runs}: save ${(s.ms / 1000).toFixed(2)} s, restore ${(restore.at(-1) / 1000).toFixed(2)} s (data on every node after ${(dataAt.at(-1) / 1000).toFixed(2)} s)`,
      );
    }
    rows.push({ n, bytes, save: median(save), restore: median(restore), data: median(dataAt) });
  }
  console.log(
    `\nSnapshot save and restore through the CLI, median of ${runs} runs (${new Date().toISOString()})`,
  );
  console.log(
    `${'secrets'.padEnd(10)}${'file size'.padEnd(14)}${'save'.padEnd(10)}${'restore*'.padEnd(10)}${'data**'.padEnd(10)}save + restore`,
  );
  for (const r of rows) {
    console.log(
      `${String(r.n).padEnd(10)}${`${(r.bytes / 1024).toFixed(0)} KiB`.padEnd(14)}${`${(r.save / 1000).toFixed(2)} s`.padEnd(10)}${`${(r.restore / 1000).toFixed(2)} s`.padEnd(10)}${`${(r.data / 1000).toFixed(2)} s`.padEnd(10)}${((r.save + r.restore) / 1000).toFixed(2)} s`,
    );
  }
  console.log(
    '* restore: verify + upload + wait until every node reports a healthy cluster (CLI start-up included).',
  );
  console.log(
    '** data: from the start of the restore until every node answers with the restored data (inside the command).',
  );
} finally {
  cli.down();
  rmSync(cwd, { recursive: true, force: true });
}
process.exit(0);
