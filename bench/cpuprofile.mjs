#!/usr/bin/env node
// Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from bench/wrk.mjs --cpu-prof DIR): self
// time per category (our code, node-vault, axios and its helpers, Node's HTTP client, TLS and
// sockets, JSON, GC, idle) and the top functions by self time. Several files: summed.
//
// Usage: node bench/cpuprofile.mjs FILE.cpuprofile... [--top 25]
import { readFileSync } from 'node:fs';
import { arg } from './lib.mjs';

const top = Number(arg('--top', '25'));
const files = process.argv
  .slice(2)
  .filter((a, i, all) => a.endsWith('.cpuprofile') && all[i - 1] !== '--top');

/** The category of a frame, by its script URL and function name. */
function category(url, fn) {
  if (fn === '(idle)') return 'idle (waiting for the network)';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8/native (program)';
  if (fn === 'parse' && url === '') return 'JSON';
  if (fn === 'stringify' && url === '') return 'JSON';
  if (/node_modules\/node-vault\//.test(url)) return 'node-vault';
  if (
    /node_modules\/(axios|follow-redirects|form-data|proxy-from-env|combined-stream|asynckit|mime)/.test(url)
  )
    return 'axios (+follow-redirects, form-data)';
  if (/node_modules\/(mustache|tv4)\//.test(url)) return 'node-vault helpers (tv4, mustache)';
  if (/node_modules\/debug|node_modules\/ms\//.test(url)) return 'debug';
  if (/\/dist\/bench\//.test(url)) return 'vaultctl bench harness';
  if (/\/dist\/client\//.test(url)) return 'vaultctl VaultClient';
  if (/\/dist\//.test(url)) return 'vaultctl other';
  if (/node:_tls|node:tls|node:internal\/tls|node:internal\/crypto/.test(url)) return 'TLS';
  if (/node:_http|node:http|node:https|node:internal\/http/.test(url)) return 'Node HTTP client';
  if (
    /node:net|node:internal\/stream_base|node:internal\/net|node:internal\/streams|node:stream|node:events|node:internal\/dns/.test(
      url,
    )
  )
    return 'sockets, streams, events';
  if (/node:internal\/(timers|process\/task_queues|async_hooks)|node:timers/.test(url))
    return 'timers, promises, async';
  if (/node:url|node:internal\/url/.test(url)) return 'URL parsing';
  if (/node_modules\//.test(url)) return `other package (${/node_modules\/([^/]+)/.exec(url)[1]})`;
  if (url.startsWith('node:')) return 'Node other';
  return url === '' ? 'native (no script)' : `other ${url}`;
}

const byCat = new Map();
const byFn = new Map();
let total = 0;
for (const f of files) {
  const p = JSON.parse(readFileSync(f, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  for (const [id, us] of self) {
    const { functionName: fn, url, lineNumber } = nodes.get(id).callFrame;
    const cat = category(url, fn);
    byCat.set(cat, (byCat.get(cat) ?? 0) + us);
    const key = `${fn || '(anonymous)'} ${url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/')}:${lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    total += us;
  }
}
const busy = total - (byCat.get('idle (waiting for the network)') ?? 0);
console.log(
  `${files.length} profile(s), ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy`,
);
console.log('\nself time by category (% of busy time):');
for (const [c, us] of [...byCat].sort((a, b) => b[1] - a[1])) {
  if (c.startsWith('idle')) continue;
  console.log(
    `  ${((us / busy) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${c}`,
  );
}
console.log(`\ntop ${top} functions by self time:`);
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top + 1)) {
  if (k.startsWith('(idle)')) continue;
  console.log(`  ${((us / busy) * 100).toFixed(1).padStart(5)} %  ${k}`);
}
