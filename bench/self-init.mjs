#!/usr/bin/env node
// OpenBao's self-initialisation (`initialize` stanza, 2.4+, auto-unseal only) against the API
// init vaultctl does, on a bare 3-node cluster (static seal, raft, retry_join, plain HTTP on the
// cluster's own Docker network): the time from starting the containers until the first node is
// active, and until all three are unsealed. Interleaved runs; the first node's self-init enables
// AppRole and creates an admin role whose role_id and secret_id come from files that this script
// generated, the only way in afterwards (no root token is returned, no recovery keys exist).
// Changes nothing it does not remove again: containers vctl-bench-si-*, network vctl-bench-si-net,
// host ports 18410-18412, a temporary directory.
//
// Usage: node bench/self-init.mjs [--runs 5] [--image REF] [--replace-first]
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, loadAverage, median, version } from './lib.mjs';

const runs = Number(arg('--runs', '5'));
// --replace-first: after each run, the first node comes back with empty storage (see oneRun).
const replaceFirst = process.argv.includes('--replace-first');
const image = arg('--image', `vaultctl/openbao:${version}`);
const prefix = 'vctl-bench-si';
const net = `${prefix}-net`;
const nodes = ['vault-1', 'vault-2', 'vault-3'];
const hostPort = (i) => 18410 + i;

const docker = (...args) =>
  execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;

function hcl(node, selfInit) {
  const peers = nodes.filter((n) => n !== node);
  const lines = [
    `cluster_name = "${prefix}"`,
    `api_addr     = "http://${node}:8200"`,
    `cluster_addr = "https://${node}:8201"`,
    'storage "raft" {',
    '  path    = "/openbao/data"',
    `  node_id = "${node}"`,
    '  performance_multiplier = 1',
    '  autopilot_reconcile_interval = "2s"',
    '  autopilot_update_interval    = "1s"',
    ...peers.flatMap((p) => ['  retry_join {', `    leader_api_addr = "http://${p}:8200"`, '  }']),
    '}',
    'listener "tcp" {',
    '  address         = "0.0.0.0:8200"',
    '  cluster_address = "0.0.0.0:8201"',
    '  tls_disable     = true',
    '}',
    'seal "static" {',
    '  current_key_id = "bench-1"',
    '  current_key    = "file:///openbao/seal/seal.key"',
    '}',
  ];
  if (selfInit) {
    const file = (name) => ({ eval_type: 'string', eval_source: 'file', path: `/openbao/seal/${name}` });
    const obj = (o) =>
      `{ ${Object.entries(o)
        .map(([k, v]) => `${k} = ${typeof v === 'object' && !Array.isArray(v) ? obj(v) : JSON.stringify(v)}`)
        .join(', ')} }`;
    lines.push(
      'initialize "vaultctl" {',
      '  request "admin-policy" {',
      '    operation = "update"',
      '    path      = "sys/policies/acl/admin"',
      `    data      = ${obj({ policy: 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }' })}`,
      '  }',
      '  request "approle" {',
      '    operation = "update"',
      '    path      = "sys/auth/approle"',
      `    data      = ${obj({ type: 'approle' })}`,
      '  }',
      '  request "admin-role" {',
      '    operation = "update"',
      '    path      = "auth/approle/role/vaultctl-admin"',
      `    data      = ${obj({ token_policies: ['admin'], token_ttl: '1h', token_max_ttl: '4h' })}`,
      '  }',
      '  request "admin-role-id" {',
      '    operation = "update"',
      '    path      = "auth/approle/role/vaultctl-admin/role-id"',
      `    data      = ${obj({ role_id: file('role-id') })}`,
      '  }',
      '  request "admin-secret-id" {',
      '    operation = "update"',
      '    path      = "auth/approle/role/vaultctl-admin/custom-secret-id"',
      `    data      = ${obj({ secret_id: file('secret-id') })}`,
      '  }',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

async function get(i, path, init) {
  const res = await fetch(`http://127.0.0.1:${hostPort(i)}/v1/${path}`, {
    signal: AbortSignal.timeout(2000),
    ...init,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function until(check, ms = 60_000) {
  const t0 = performance.now();
  for (;;) {
    const r = await check().catch(() => undefined);
    if (r !== undefined) return r;
    if (performance.now() - t0 > ms) throw new Error('timed out');
    await sleep(50);
  }
}

async function oneRun(selfInit) {
  const dir = mkdtempSync(join(tmpdir(), 'vaultctl-si-'));
  const roleId = randomUUID();
  const secretId = randomUUID();
  try {
    docker('network', 'create', net);
    // Every node unseals with the same static key.
    const key = randomBytes(32);
    for (const [i, n] of nodes.entries()) {
      mkdirSync(join(dir, n, 'config'), { recursive: true });
      mkdirSync(join(dir, n, 'seal'), { recursive: true });
      writeFileSync(join(dir, n, 'config', 'node.hcl'), hcl(n, selfInit && i === 0));
      writeFileSync(join(dir, n, 'seal', 'seal.key'), key, { mode: 0o644 });
      if (selfInit && i === 0) {
        writeFileSync(join(dir, n, 'seal', 'role-id'), roleId, { mode: 0o644 });
        writeFileSync(join(dir, n, 'seal', 'secret-id'), secretId, { mode: 0o644 });
      }
    }
    const create = (i, n) =>
      docker(
        'create',
        '--name',
        `${prefix}-${n}`,
        '--hostname',
        n,
        '--network',
        net,
        '-p',
        `127.0.0.1:${hostPort(i)}:8200`,
        '-v',
        `${join(dir, n, 'config')}:/openbao/config:ro`,
        '-v',
        `${join(dir, n, 'seal')}:/openbao/seal:ro`,
        '--mount',
        'type=volume,dst=/openbao/data',
        image,
        'server',
        '-config=/openbao/config',
      );
    for (const [i, n] of nodes.entries()) create(i, n);
    const t0 = performance.now();
    await Promise.all(nodes.map((n) => new Promise((r) => r(docker('start', `${prefix}-${n}`)))));
    await until(async () => ((await get(0, 'sys/seal-status')).status === 200 ? true : undefined));
    const tAnswer = performance.now() - t0;
    let token;
    if (!selfInit) {
      const init = await get(0, 'sys/init', {
        method: 'POST',
        body: JSON.stringify({ recovery_shares: 5, recovery_threshold: 3 }),
        signal: AbortSignal.timeout(60_000),
      });
      if (init.status !== 200) throw new Error(`init answered ${init.status}`);
      token = init.body.root_token;
    }
    const tInit = performance.now() - t0;
    await until(async () => ((await get(0, 'sys/health')).status === 200 ? true : undefined));
    const tActive = performance.now() - t0;
    if (selfInit) {
      const login = await until(async () => {
        const r = await get(0, 'auth/approle/login', {
          method: 'POST',
          body: JSON.stringify({ role_id: roleId, secret_id: secretId }),
        });
        return r.status === 200 ? r.body : undefined;
      }, 10_000);
      token = login.auth.client_token;
    }
    const tToken = performance.now() - t0;
    await until(async () => {
      const hs = await Promise.all(nodes.map((_, i) => get(i, 'sys/health')));
      return hs.every((h) => h.status === 200 || h.status === 429) ? true : undefined;
    });
    const tAll = performance.now() - t0;
    const servers = (await get(0, 'sys/storage/raft/configuration', { headers: { 'X-Vault-Token': token } }))
      .body?.data?.config?.servers;
    let replaced;
    if (replaceFirst) {
      // The first node loses its data and comes back with the same configuration, as after a
      // disk loss or `docker volume rm`: does it rejoin the cluster, or initialise a new one?
      docker('rm', '-f', '-v', `${prefix}-${nodes[0]}`);
      create(0, nodes[0]);
      docker('start', `${prefix}-${nodes[0]}`);
      const id = async (i) => (await get(i, 'sys/health')).body?.cluster_id;
      try {
        await until(async () => {
          const h = await get(0, 'sys/health');
          return h.status === 200 || h.status === 429 ? true : undefined;
        }, 120_000);
        replaced = (await id(0)) === (await id(1)) ? 'rejoined' : 'NEW CLUSTER';
      } catch {
        const h = await get(0, 'sys/health').catch((e) => ({ status: e.message }));
        replaced = `not unsealed after 120 s (sys/health ${h.status}); log: ${docker('logs', '--tail', '4', `${prefix}-${nodes[0]}`).trim().replace(/\s+/g, ' ')}`;
      }
    }
    return { tAnswer, tInit, tActive, tToken, tAll, servers: servers?.length ?? 0, replaced };
  } finally {
    for (const n of nodes)
      try {
        docker('rm', '-f', '-v', `${prefix}-${n}`);
      } catch {}
    try {
      docker('network', 'rm', net);
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`self-initialisation vs API init: ${runs} interleaved runs each, image ${image}`);
console.log(`load average (1/5/15 min) before: ${loadAverage()}`);
const res = { api: [], self: [] };
for (let i = 0; i < runs; i++) {
  for (const mode of ['api', 'self']) {
    const r = await oneRun(mode === 'self');
    res[mode].push(r);
    console.error(
      `  ${mode} run ${i + 1}: first active ${fmt(r.tActive)}, all unsealed ${fmt(r.tAll)}, raft servers ${r.servers}${r.replaced ? `, first node replaced: ${r.replaced}` : ''} (load ${loadAverage()})`,
    );
  }
}
const rows = [
  ['tAnswer', 'first node answers'],
  ['tInit', 'init call returned (API only)'],
  ['tActive', 'first node active'],
  ['tToken', 'admin token in hand'],
  ['tAll', 'all three unsealed'],
];
console.log(`\n${'from container start (median)'.padEnd(34)}${'API init'.padEnd(14)}self-init`);
for (const [k, label] of rows)
  console.log(
    `${label.padEnd(34)}${fmt(median(res.api.map((r) => r[k]))).padEnd(14)}${fmt(median(res.self.map((r) => r[k])))}`,
  );
console.log(`\nload average (1/5/15 min) after: ${loadAverage()}`);
