/**
 * `vaultctl agent` against real parts: a real OpenBao cluster, moto's S3 server as a host process on
 * 127.0.0.1, Debian's gpg. A schedule every 4 s: GPG-encrypted snapshots in a directory and in S3,
 * verified, pruned to keep, status and metrics say so; S3 gone: failures counted while the directory
 * still gets its copies, back: the next run succeeds; SIGKILL during an upload: nothing partial is
 * listed and the next run cleans up and succeeds; bad backup input refused by render; disaster
 * recovery from S3 alone (200 secrets, down --volumes --purge, the local copies removed).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, request, type ServerResponse } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliOutputs, leakedSecrets, runCli, TestCluster } from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const MOTO_PORT = 19620;
const METRICS_PORT = 19621;
const BUCKET = 'vctl-ag-backups';
const S3_URL = `s3://${BUCKET}/vault`;
const ENDPOINT = `http://127.0.0.1:${MOTO_PORT}`;
/** The agent reaches moto through this pass-through proxy, which can hold multipart part uploads. */
const PROXY_PORT = 19622;
const PROXY = `http://127.0.0.1:${PROXY_PORT}`;
const AWS_ENV = { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' };
const MOTO_DIR = join(process.env.VAULTCTL_CACHE_DIR ?? join(homedir(), '.cache', 'vaultctl'), 'moto-5.2.1');

const work = mkdtempSync(join(tmpdir(), 'vctl-ag-'));
const localDir = join(work, 'backups');
const gpgHome = join(work, 'gnupg');
const pubKey = join(work, 'backup-pub.asc');
const secKey = join(work, 'backup-sec.asc');

// The GPG key pair of the test (the operator's offline key): made before the spec names the public half.
mkdirSync(gpgHome, { mode: 0o700 });
execFileSync(
  'gpg',
  [
    '--homedir',
    gpgHome,
    '--batch',
    '--passphrase',
    '',
    '--quick-gen-key',
    'vaultctl backup <backup@example.org>',
    'default',
    'default',
    'never',
  ],
  { stdio: 'ignore' },
);
writeFileSync(pubKey, execFileSync('gpg', ['--homedir', gpgHome, '--export', '--armor']));
writeFileSync(
  secKey,
  execFileSync('gpg', ['--homedir', gpgHome, '--batch', '--export-secret-keys', '--armor']),
  { mode: 0o600 },
);
execFileSync('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);

const cluster = new TestCluster({
  name: 'vctl-ag1',
  apiPortBase: 19600,
  backup: {
    schedule: '@every 4s',
    maxAge: '1h',
    metricsPort: METRICS_PORT,
    destinations: [
      { url: localDir, keep: 2 },
      { url: S3_URL, region: 'us-east-1', endpoint: PROXY, keep: 2 },
    ],
    encryption: { gpgPublicKeys: [pubKey] },
  },
});

const s3 = new S3Client({
  region: 'us-east-1',
  endpoint: ENDPOINT,
  forcePathStyle: true,
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
});
let moto: ResultPromise | undefined;

/**
 * A plain HTTP pass-through to moto. With `hold` on, a multipart part upload (`?partNumber=`) is
 * not forwarded but held open: the agent is then provably in the middle
 * of an upload whose multipart upload moto has created.
 */
const proxy = {
  hold: false,
  held: [] as ServerResponse[],
  server: createServer((req, res) => {
    if (proxy.hold && /[?&]partNumber=/.test(req.url ?? '')) {
      proxy.held.push(res);
      return;
    }
    const up = request(
      { host: '127.0.0.1', port: MOTO_PORT, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  }),
};
let agentToken = '';

async function startMoto(): Promise<void> {
  moto = execa('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(MOTO_PORT)], {
    env: { PYTHONPATH: MOTO_DIR },
    reject: false,
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`${ENDPOINT}/`).then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
}

async function stopMoto(): Promise<void> {
  if (!moto) return;
  moto.kill('SIGKILL');
  await moto;
  moto = undefined;
}

interface Agent {
  proc: ResultPromise;
  lines: string[];
}

function startAgent(args: string[] = []): Agent {
  const lines: string[] = [];
  const proc = execa('node', [CLI, '--cluster', cluster.name, 'agent', '--log-format', 'json', ...args], {
    cwd: cluster.base,
    env: { NO_COLOR: '1', BAO_TOKEN: '', VAULT_TOKEN: '', ...AWS_ENV },
    reject: false,
    stdin: 'ignore',
  });
  proc.stderr?.on('data', (c: Buffer) => {
    for (const l of c.toString('utf8').split('\n')) if (l.trim()) lines.push(l);
    cliOutputs.push(c.toString('utf8'));
  });
  return { proc, lines };
}

/** Log lines of a message (of the backup job, when the line names a job: not the renewal, disk or audit jobs). */
const logged = (a: Agent, msg: string) =>
  a.lines.filter(
    (l) =>
      l.includes(`"msg":"${msg}"`) &&
      !/"job":"(agent-token|certificates|transit-token|disk|audit-rotate)"/.test(l),
  ).length;

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 90_000,
): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const status = () => JSON.parse(readFileSync(join(cluster.state.root, 'agent', 'status.json'), 'utf8'));

async function s3Keys(): Promise<string[]> {
  const res = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'vault/' }));
  return (res.Contents ?? []).map((o) => o.Key!).sort();
}

async function s3Object(key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

beforeAll(async () => {
  await new Promise<void>((r) => proxy.server.listen(PROXY_PORT, '127.0.0.1', () => r()));
  await startMoto();
  await cluster.up();
  await cluster.init();
  const api = cluster.api(0);
  for (let i = 0; i < 20; i++) await api.kvPut('secret', `agent/s${i}`, { value: `plain-marker-${i}` });
}, 400_000);

afterAll(async () => {
  for (const r of proxy.held) r.destroy();
  await new Promise((r) => proxy.server.close(r));
  await stopMoto();
  await cluster.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe('vaultctl agent', () => {
  it('init created the agent token: 0600, periodic, its own policy only, not the root token', async () => {
    const file = join(cluster.state.root, 'agent', 'token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    agentToken = readFileSync(file, 'utf8').trim();
    expect(agentToken).not.toBe(cluster.rootToken);
    const self = await cluster.api(0, agentToken).read<{
      data: { policies: string[]; ttl: number; renewable: boolean; explicit_max_ttl: number };
    }>('auth/token/lookup-self');
    expect(self.data.policies).toEqual(['vaultctl-agent']);
    // Periodic: renewable, no maximum, a TTL of at most the 24 h period.
    expect(self.data.renewable).toBe(true);
    expect(self.data.explicit_max_ttl).toBe(0);
    expect(self.data.ttl).toBeGreaterThan(0);
    expect(self.data.ttl).toBeLessThanOrEqual(86_400);
    // It cannot read a secret.
    await expect(cluster.api(0, agentToken).kvGet('secret', 'agent/s0')).rejects.toThrow();
  });

  it('a schedule every 4 s: GPG-encrypted snapshots in the directory and in S3, verified, pruned to keep 2; status and metrics say so; SIGTERM stops it with 0', async () => {
    const agent = startAgent();
    await until('4 successful runs', () => logged(agent, 'job done') >= 4, 120_000);
    agent.proc.kill('SIGTERM');
    const res = await agent.proc;
    expect(res.exitCode).toBe(0);
    expect(logged(agent, 'agent stopped')).toBe(1);
    // Retention: only the newest 2 verified snapshots (and their sidecars) remain at each destination.
    const local = readdirSync(localDir).filter((f) => !f.startsWith('.'));
    expect(local.filter((f) => f.endsWith('.snap.gpg'))).toHaveLength(2);
    expect(local.filter((f) => f.endsWith('.snap.gpg.json'))).toHaveLength(2);
    const keys = await s3Keys();
    expect(keys.filter((k) => k.endsWith('.snap.gpg'))).toHaveLength(2);
    expect(keys.filter((k) => k.endsWith('.snap.gpg.json'))).toHaveLength(2);
    expect(logged(agent, 'retention removed a snapshot')).toBeGreaterThanOrEqual(4);
    // No plaintext in S3: the object is OpenPGP, not gzip, and holds no written value; gpg decrypts it
    // with the private key to exactly the plain snapshot the sidecar describes.
    const key = keys.find((k) => k.endsWith('.snap.gpg'))!;
    const obj = await s3Object(key);
    const meta = JSON.parse((await s3Object(`${key}.json`)).toString('utf8'));
    expect(obj.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false);
    expect(obj.includes(Buffer.from('plain-marker-'))).toBe(false);
    expect(meta.encrypted.format).toBe('gpg');
    expect(meta.verified.sha256).toBe(meta.sha256);
    const plain = execFileSync('gpg', ['--homedir', gpgHome, '--batch', '--decrypt'], {
      input: obj,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    execFileSync('gpgconf', ['--homedir', gpgHome, '--kill', 'gpg-agent']);
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(plain).digest('hex')).toBe(meta.plainSha256);
    // Status: both destinations succeeded, no failures; snapshot status exits 0 and says so.
    const st = status();
    for (const url of [localDir, S3_URL]) {
      expect(st.destinations[url].consecutiveFailures).toBe(0);
      expect(st.destinations[url].lastSuccessAt).toBeTruthy();
    }
    const s = await cluster.cli(['snapshot', 'status', '--format', 'json']);
    expect(s.exitCode, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).destinations).toHaveLength(2);
    // list --from shows exactly the verified ones.
    const l = await cluster.cli(['snapshot', 'list', '--from', `${S3_URL}/`, '--format', 'json'], AWS_ENV);
    expect(l.exitCode, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout)).toHaveLength(2);
  });

  it('metrics on 127.0.0.1 say when the last backup succeeded, with the failures and bytes', async () => {
    const agent = startAgent();
    await until(
      'the metrics endpoint',
      () =>
        fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`).then(
          (r) => r.ok,
          () => false,
        ),
      30_000,
    );
    const text = await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text();
    // The disk job's gauges (it runs at the agent's start): every node's audit and raft volume.
    const volumes =
      /vaultctl_volume_fs_avail_bytes\{cluster="vctl-ag1",node="vault-1",volume="(audit|raft)"\} [1-9]\d*/g;
    await until(
      "the disk job's gauges",
      async () =>
        ((await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text()).match(volumes) ?? [])
          .length === 2,
      60_000,
    );
    agent.proc.kill('SIGTERM');
    await agent.proc;
    const m = new RegExp(
      `vaultctl_backup_last_success_timestamp_seconds\\{cluster="vctl-ag1",destination="${S3_URL}"\\} (\\d+(\\.\\d+)?)`,
    ).exec(text);
    expect(m).not.toBeNull();
    expect(Date.now() / 1000 - Number(m![1])).toBeLessThan(600);
    expect(text).toMatch(
      new RegExp(`vaultctl_backup_failures_total\\{cluster="vctl-ag1",destination="${S3_URL}"\\} 0`),
    );
    expect(text).toMatch(/vaultctl_backup_last_size_bytes\{[^}]*\} [1-9]\d*/);
  });

  it('S3 unreachable: failures counted, the directory still gets its copies; S3 back: the next run succeeds', async () => {
    await stopMoto();
    const before = status().destinations[localDir].lastSuccessAt;
    const agent = startAgent();
    await until('2 failed runs', () => logged(agent, 'destination failed') >= 2, 120_000);
    const down = status();
    expect(down.destinations[S3_URL].consecutiveFailures).toBeGreaterThanOrEqual(2);
    expect(down.destinations[S3_URL].lastError).toBeTruthy();
    expect(down.destinations[localDir].consecutiveFailures).toBe(0);
    expect(down.destinations[localDir].lastSuccessAt > before).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(
        `vaultctl_backup_consecutive_failures\\{cluster="vctl-ag1",destination="${S3_URL}"\\} [2-9]`,
      ),
    );
    // moto keeps its buckets in memory: back means a fresh server with the bucket created again.
    await startMoto();
    const failed = logged(agent, 'job failed');
    await until(
      'a successful run after S3 came back',
      async () => {
        const s = status().destinations[S3_URL];
        return (
          s.consecutiveFailures === 0 &&
          logged(agent, 'job done') > 0 &&
          logged(agent, 'job failed') >= failed
        );
      },
      120_000,
    );
    agent.proc.kill('SIGTERM');
    expect((await agent.proc).exitCode).toBe(0);
    expect((await s3Keys()).filter((k) => k.endsWith('.snap.gpg.json')).length).toBeGreaterThanOrEqual(1);
  });

  it('SIGKILL during an upload: no partial object is listed; the next run removes it and succeeds', async () => {
    // About 24 MB of incompressible data, so that the upload takes a while (8 MiB multipart parts).
    const api = cluster.api(0);
    for (let i = 0; i < 36; i++)
      await api.kvPut('secret', `big/b${i}`, { value: randomBytes(512 * 1024).toString('base64') });
    const listed = (await s3Keys()).filter((k) => k.endsWith('.snap.gpg.json')).length;
    proxy.hold = true;
    const agent = startAgent(['--metrics-port', '0']);
    await until('a multipart part upload held by the proxy', () => proxy.held.length > 0, 120_000);
    // The agent is in the middle of the S3 upload: killed there.
    agent.proc.kill('SIGKILL');
    await agent.proc;
    proxy.hold = false;
    for (const r of proxy.held.splice(0)) r.destroy();
    const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'vault/' }));
    // The upload moto was given is unfinished ...
    expect((open.Uploads ?? []).length).toBeGreaterThan(0);
    // ... and nothing of it is listed as a snapshot.
    const l = await cluster.cli(['snapshot', 'list', '--from', S3_URL, '--format', 'json'], AWS_ENV);
    expect(l.exitCode, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout)).toHaveLength(listed);
    // The next run: cleans up, succeeds.
    const once = await runCli(['--cluster', cluster.name, 'agent', '--once', '--metrics-port', '0'], {
      cwd: cluster.base,
      env: AWS_ENV,
    });
    expect(once.exitCode, once.stderr).toBe(0);
    expect(once.stderr).toMatch(/removed what an interrupted upload left/);
    const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'vault/' }));
    expect(after.Uploads ?? []).toHaveLength(0);
    const k2 = await s3Keys();
    expect(k2.filter((k) => k.endsWith('.snap.gpg') && !k2.includes(`${k}.json`))).toEqual([]);
    for (let i = 0; i < 36; i++) await api.call('DELETE', `/secret/metadata/big/b${i}`, 'deleting');
  });

  it('bad backup input is refused by render with every problem: a cron that is not one, an unknown scheme, an unreadable GPG key', async () => {
    const cfg = join(work, 'bad.yaml');
    writeFileSync(
      cfg,
      `name: vctl-ag-bad\nbackup:\n  schedule: "0 2 * *"\n  destinations:\n    - url: gs://bucket/x\n  encryption:\n    gpgPublicKeys: [${join(work, 'missing.asc')}]\n`,
    );
    const r = await runCli(['--config', cfg, 'render', '--out', join(work, 'out-bad')], { cwd: work });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/backup\.schedule: not a schedule: "0 2 \* \*" has 4 fields/);
    expect(r.stderr).toMatch(/backup\.destinations\.0\.url: unknown destination scheme "gs:\/\/"/);
    const gpgBad = join(work, 'bad2.yaml');
    writeFileSync(
      gpgBad,
      `name: vctl-ag-bad\nbackup:\n  schedule: "0 2 * * *"\n  destinations:\n    - url: ${localDir}\n  encryption:\n    gpgPublicKeys: [${join(work, 'missing.asc')}]\n`,
    );
    const r2 = await runCli(['--config', gpgBad, 'render', '--out', join(work, 'out-bad2')], { cwd: work });
    expect(r2.exitCode).toBe(1);
    expect(r2.stderr).toMatch(
      /backup\.encryption\.gpgPublicKeys\.0: the GPG public key .*missing\.asc: no such file/,
    );
    expect(existsSync(join(work, 'out-bad2'))).toBe(false);
  });

  it('disaster recovery from S3 alone: 200 secrets, down --volumes --purge, local copies removed, a fresh cluster restored from s3://', async () => {
    const api = cluster.api(0);
    for (let i = 0; i < 200; i++) await api.kvPut('secret', `dr/s${i}`, { value: `dr-value-${i}` });
    const once = await runCli(['--cluster', cluster.name, 'agent', '--once', '--metrics-port', '0'], {
      cwd: cluster.base,
      env: AWS_ENV,
    });
    expect(once.exitCode, once.stderr).toBe(0);
    const newest = JSON.parse(
      (await cluster.cli(['snapshot', 'list', '--from', S3_URL, '--format', 'json'], AWS_ENV)).stdout,
    )[0];
    // The operator's escrow: the static seal key and the root token, kept apart from the cluster.
    const escrow = join(work, 'escrow');
    mkdirSync(escrow, { mode: 0o700 });
    cpSync(cluster.state.sealKeyFile, join(escrow, 'seal.key'));
    cpSync(cluster.state.initFile, join(escrow, 'init.json'));
    const down = await cluster.cli(['down', '--volumes', '--purge', '--yes']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(existsSync(cluster.state.root)).toBe(false);
    rmSync(localDir, { recursive: true, force: true });
    mkdirSync(cluster.state.root, { recursive: true, mode: 0o700 });
    cpSync(join(escrow, 'seal.key'), cluster.state.sealKeyFile);
    cpSync(join(escrow, 'init.json'), cluster.state.initFile);
    chmodSync(cluster.state.sealKeyFile, 0o600);
    chmodSync(cluster.state.initFile, 0o600);
    await cluster.up();
    // Without the private key: refused, nothing changed.
    const noKey = await cluster.cli(['snapshot', 'restore', newest.url, '--yes'], AWS_ENV);
    expect(noKey.exitCode).toBe(1);
    expect(noKey.stderr).toMatch(/encrypted to GPG keys and no private key was given/);
    const r = await cluster.cli(['snapshot', 'restore', newest.url, '--gpg-key', secKey, '--yes'], AWS_ENV);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('into the fresh cluster');
    const back = cluster.api(0);
    for (let i = 0; i < 200; i++)
      expect((await back.kvGet('secret', `dr/s${i}`))?.data.value).toBe(`dr-value-${i}`);
  });

  it('no token or key appeared in any vaultctl output', () => {
    expect(agentToken.length).toBeGreaterThan(8);
    const secret = readFileSync(secKey, 'utf8')
      .split('\n')
      .filter((l) => l.length > 40)
      .slice(2, 4);
    expect(leakedSecrets(cluster.knownSecrets([agentToken, ...secret]))).toEqual([]);
  });
});
