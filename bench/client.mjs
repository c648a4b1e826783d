#!/usr/bin/env node
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, cliEnv, median, percentile, root, vaultctlIn, version } from './lib.mjs';

const rounds = Number(arg('--rounds', '5'));
const reads = Number(arg('--reads', '1000'));
const profile = arg('--profile', '60s');
const name = 'vctl-bench-client';
const cwd = mkdtempSync(join(tmpdir(), 'vaultctl-bench-client-'));
writeFileSync(
  join(cwd, 'vaultctl.yaml'),
  `name: ${name}\nimage: vaultctl/openbao:${version}\napiPortBase: 18420\n`,
);
const _env = cliEnv;
const cluster = vaultctlIn(cwd);
const vaultctl = (...a) => cluster.must(...a).out;

const { VaultClient } = await import(join(root, 'dist/client/index.js'));
const nodeVault = (await import('node-vault')).default;

try {
  vaultctl('up', '-q');
  vaultctl('init', '-q');
  const state = join(cwd, '.vaultctl', name);
  const token = JSON.parse(readFileSync(join(state, 'init.json'), 'utf8')).rootToken;
  const ca = readFileSync(join(state, 'tls', 'ca.pem'), 'utf8');
  // Read from the active node, as every method's first choice.
  const addr = 'https://127.0.0.1:18420';
  const path = 'secret/data/tenants/00000000-0000-4000-8000-000000000001/exchanges/binance/trading';

  const agent = new Agent({ keepAlive: true, ca, maxSockets: 1 });
  const raw = () =>
    new Promise((res, rej) => {
      const r = request(`${addr}/v1/${path}`, { agent, headers: { 'X-Vault-Token': token } }, (resp) => {
        let body = '';
        resp.on('data', (d) => {
          body += d;
        });
        resp.on('end', () =>
          resp.statusCode === 200 ? res(JSON.parse(body)) : rej(new Error(String(resp.statusCode))),
        );
      });
      r.on('error', rej);
      r.end();
    });
  const nv = nodeVault({
    endpoint: addr,
    token,
    debug: () => {},
    requestOptions: { ca, agentOptions: { keepAlive: true } },
  });
  const vc = new VaultClient({ addresses: [addr], token, ca, cache: { enabled: false }, env: {} });
  const vcc = new VaultClient({ addresses: [addr], token, ca, env: {} });
  await vc.writeSecret(path.replace('secret/data/', ''), { api_key: 'bench', secret: 'bench-secret' });

  const methods = {
    raw: () => raw(),
    nv: () => nv.read(path),
    vc: () => vc.readSecret(path.replace('secret/data/', '')),
    'vc+c': () => vcc.readSecret(path.replace('secret/data/', '')),
  };
  for (const fn of Object.values(methods)) for (let i = 0; i < 100; i++) await fn(); // warm-up
  const results = Object.fromEntries(Object.keys(methods).map((k) => [k, { p50: [], p99: [], tput: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, fn] of Object.entries(methods)) {
      const lat = [];
      const t0 = performance.now();
      for (let i = 0; i < reads; i++) {
        const s = performance.now();
        await fn();
        lat.push(performance.now() - s);
      }
      const secs = (performance.now() - t0) / 1000;
      results[k].p50.push(percentile(lat, 50));
      results[k].p99.push(percentile(lat, 99));
      results[k].tput.push(reads / secs);
    }
    console.error(`  round ${r + 1}/${rounds} done`);
  }
  console.log(
    `\nRead of one secret, ${reads} sequential reads per method and round, median of ${rounds} rounds (${new Date().toISOString()})`,
  );
  console.log(
    `${'method'.padEnd(28)}${'p50 ms'.padEnd(10)}${'p99 ms'.padEnd(10)}${'reads/s'.padEnd(10)}p99 vs raw`,
  );
  const rawP99 = median(results.raw.p99);
  const label = {
    raw: 'raw keep-alive https',
    nv: 'node-vault read()',
    vc: 'VaultClient, cache off',
    'vc+c': 'VaultClient, cache on',
  };
  for (const k of Object.keys(methods)) {
    const p50 = median(results[k].p50);
    const p99 = median(results[k].p99);
    console.log(
      `${label[k].padEnd(28)}${p50.toFixed(3).padEnd(10)}${p99.toFixed(3).padEnd(10)}${median(results[k].tput).toFixed(0).padEnd(10)}${(p99 / rawP99).toFixed(2)}x`,
    );
  }
  const p50ratio = median(results.vc.p50) / median(results.raw.p50);
  console.log(
    `\nVaultClient (cache off) / raw: p50 ${p50ratio.toFixed(2)}x, p99 ${(median(results.vc.p99) / rawP99).toFixed(2)}x`,
  );
  agent.destroy();

  if (profile !== '0') {
    console.log(`\nSeed profile through vaultctl bench (100 users, think 0.1-1 s, 90 % reads, ${profile}):`);
    console.log(vaultctl('bench', '-q', '--duration', profile, '--warmup', '10s'));
  }
} finally {
  cluster.down();
  rmSync(cwd, { recursive: true, force: true });
}
process.exit(0);
