/**
 * Snapshots on a real cluster: save (plain, encrypted with a passphrase, encrypted to age
 * recipients), verify, list, prune; restore into the same cluster after deletes (also from an age
 * file); total loss (down --volumes) then a fresh cluster restored from the snapshot; bad files
 * refused with a reason; a full disk and Ctrl-C during save leave no file; with no leader a save is
 * refused unless --allow-stale, which marks the sidecar stale.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultClient } from '../../src/client/index.js';
import { waitForHealth } from '../../src/health/health.js';
import {
  cliOutputs,
  docker,
  leakedSecrets,
  removeClusterResources,
  TestCluster,
} from '../helpers/cluster.js';
import { CLI } from '../helpers/paths.js';

const cluster = new TestCluster({ name: 'vctl-it-snap', apiPortBase: 18340 });
const tenants = Array.from(
  { length: 50 },
  (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
);
const paths = tenants.flatMap((t) =>
  ['binance', 'kraken'].flatMap((ex) => (['readonly', 'trading'] as const).map((ty) => ({ t, ex, ty }))),
);
const passphrase = 'correct horse battery staple';
let dir: string;
let passFile: string;
let encFile: string;
/** The AGE-SECRET-KEY lines of the test's key files: they must appear in no output. */
const ageSecrets: string[] = [];

/** A key pair made by Debian's age-keygen into a 0600 file; returns the recipient. */
function ageKeygen(file: string): string {
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  expect(statSync(file).mode & 0o777).toBe(0o600);
  ageSecrets.push(
    ...readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('AGE-SECRET-KEY-')),
  );
  return execFileSync('age-keygen', ['-y', file]).toString().trim();
}

function client(): VaultClient {
  return new VaultClient({
    addresses: cluster.addresses,
    token: cluster.rootToken,
    ca: cluster.tls!.ca,
    cache: { enabled: false },
    env: {},
  });
}

async function readAll(): Promise<Map<string, { v: string; version: number }>> {
  const c = client();
  const out = new Map<string, { v: string; version: number }>();
  for (const p of paths) {
    const r = await c.readSecretWithMeta(c.credentialPath(p.t, p.ex, p.ty));
    if (r) out.set(`${p.t}/${p.ex}/${p.ty}`, { v: String(r.data.api_key), version: r.version });
  }
  return out;
}

/** Runs `make` once, on first use: an `it` that needs what it makes can run alone (`-t`). */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

/** Two age key pairs: the identity the age snapshots are encrypted to, and another one. */
const ageKeys = once(async () => {
  const ageKey = join(cluster.base, 'age-key.txt');
  const otherKey = join(cluster.base, 'age-other.txt');
  return { ageKey, otherKey, recipient: ageKeygen(ageKey), other: ageKeygen(otherKey) };
});

/** A plain snapshot of every secret, in its own directory (the prune test must not remove it). */
const plainSnapshot = once(async () => {
  const own = join(cluster.base, 'plain-source');
  mkdirSync(own, { recursive: true });
  const r = await cluster.cli(['snapshot', 'save', '--dir', own, '--format', 'json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return join(own, JSON.parse(r.stdout).file as string);
});

/** A snapshot of every secret encrypted to `ageKeys().recipient`, in its own directory. */
const ageSnapshot = once(async () => {
  const { recipient } = await ageKeys();
  const own = join(cluster.base, 'age-source');
  mkdirSync(own, { recursive: true });
  const r = await cluster.cli([
    'snapshot',
    'save',
    '--dir',
    own,
    '--encrypt-to',
    recipient,
    '--format',
    'json',
  ]);
  expect(r.exitCode, r.stderr).toBe(0);
  return join(own, JSON.parse(r.stdout).file as string);
});

beforeAll(async () => {
  await removeClusterResources(cluster.name);
  const up = await cluster.cli(['up', '--api-port', '18340', '--image', cluster.spec.image]);
  expect(up.exitCode, up.stderr).toBe(0);
  const init = await cluster.cli(['init']);
  expect(init.exitCode, init.stderr).toBe(0);
  dir = join(cluster.base, 'backups');
  mkdirSync(dir);
  passFile = join(cluster.base, 'pass.txt');
  writeFileSync(passFile, `${passphrase}\n`, { mode: 0o600 });
  const c = client();
  for (let i = 0; i < paths.length; i += 25) {
    await Promise.all(
      paths.slice(i, i + 25).map(async (p, j) => {
        await c.putCredential(p.t, p.ex, p.ty, { api_key: `v1-${i + j}`, secret: 's' });
        if ((i + j) % 3 === 0)
          await c.putCredential(p.t, p.ex, p.ty, { api_key: `v2-${i + j}`, secret: 's' });
      }),
    );
  }
});
afterAll(async () => {
  await cluster.destroy();
});

describe('snapshot save / verify / list / prune', () => {
  it(`saves ${paths.length} secrets into a 0600 file with a sidecar, and verifies it`, async () => {
    const r = await cluster.cli(['snapshot', 'save', '--dir', dir, '--format', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const meta = JSON.parse(r.stdout);
    const snapFile = join(dir, meta.file);
    expect(statSync(snapFile).mode & 0o777).toBe(0o600);
    expect(meta.size).toBe(statSync(snapFile).size);
    expect(meta.sha256).toBe(createHash('sha256').update(readFileSync(snapFile)).digest('hex'));
    expect(meta).toMatchObject({
      cluster: 'vctl-it-snap',
      flavor: 'openbao',
      sealType: 'static',
      encrypted: null,
    });
    expect(meta.raftIndex).toBeGreaterThan(100);
    expect(readdirSync(dir).filter((f) => f.includes('.partial'))).toEqual([]);
    const v = await cluster.cli(['snapshot', 'verify', snapFile]);
    expect(v.exitCode, v.stderr).toBe(0);
  });

  it('encrypts with a passphrase file; openssl decrypts it to the same snapshot', async () => {
    const r = await cluster.cli([
      'snapshot',
      'save',
      '--dir',
      dir,
      '--passphrase-file',
      passFile,
      '--format',
      'json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const meta = JSON.parse(r.stdout);
    encFile = join(dir, meta.file);
    expect(encFile.endsWith('.snap.enc')).toBe(true);
    const plain = execFileSync('openssl', [
      'enc',
      '-d',
      '-aes-256-cbc',
      '-pbkdf2',
      '-iter',
      '200000',
      '-md',
      'sha256',
      '-pass',
      `file:${passFile}`,
      '-in',
      encFile,
    ]);
    expect(createHash('sha256').update(plain).digest('hex')).toBe(meta.plainSha256);
    expect((await cluster.cli(['snapshot', 'verify', encFile, '--passphrase-file', passFile])).exitCode).toBe(
      0,
    );
    const wrong = join(cluster.base, 'wrong.txt');
    writeFileSync(wrong, 'not the passphrase\n');
    const bad = await cluster.cli(['snapshot', 'verify', encFile, '--passphrase-file', wrong]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('cannot decrypt: wrong passphrase');
  });

  it("encrypts to age recipients; Debian's age decrypts it; verify with the identity passes, with another exits 1", async () => {
    const { ageKey, otherKey, recipient, other } = await ageKeys();
    // Its own directory: the prune test below must not remove the file the age restore uses.
    const ageDir = join(cluster.base, 'age-backups');
    mkdirSync(ageDir);
    const r = await cluster.cli([
      'snapshot',
      'save',
      '--dir',
      ageDir,
      '--encrypt-to',
      recipient,
      '--format',
      'json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const meta = JSON.parse(r.stdout);
    const ageFile = join(ageDir, meta.file);
    expect(ageFile.endsWith('.snap.age')).toBe(true);
    expect(statSync(ageFile).mode & 0o777).toBe(0o600);
    expect(meta.encrypted).toEqual({ format: 'age', recipients: [recipient] });
    // The output is the sidecar plus what --keep pruned.
    expect({ ...JSON.parse(readFileSync(`${ageFile}.json`, 'utf8')), pruned: [] }).toEqual(meta);
    expect(meta.sha256).toBe(createHash('sha256').update(readFileSync(ageFile)).digest('hex'));
    const plain = execFileSync('age', ['-d', '-i', ageKey, ageFile], { maxBuffer: 256 << 20 });
    expect(plain.length).toBe(meta.plainSize);
    expect(createHash('sha256').update(plain).digest('hex')).toBe(meta.plainSha256);

    const ok = await cluster.cli(['snapshot', 'verify', ageFile, '--identity', ageKey]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('decrypts');
    const unchecked = await cluster.cli(['snapshot', 'verify', ageFile, '--format', 'json']);
    expect(unchecked.exitCode, unchecked.stderr).toBe(0);
    expect(JSON.parse(unchecked.stdout)).toMatchObject({ ok: true, decrypted: false });
    const bad = await cluster.cli(['snapshot', 'verify', ageFile, '--identity', otherKey]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('cannot decrypt: wrong identity');

    // A recipients file with both keys: either identity decrypts it.
    const recFile = join(cluster.base, 'recipients.txt');
    writeFileSync(recFile, `# backup operators\n${recipient}\n\n${other}\n`);
    const r2 = await cluster.cli([
      'snapshot',
      'save',
      '--dir',
      ageDir,
      '--recipients-file',
      recFile,
      '--format',
      'json',
    ]);
    expect(r2.exitCode, r2.stderr).toBe(0);
    const meta2 = JSON.parse(r2.stdout);
    expect(meta2.encrypted.recipients).toEqual([recipient, other]);
    const plain2 = execFileSync('age', ['-d', '-i', otherKey, join(ageDir, meta2.file)], {
      maxBuffer: 256 << 20,
    });
    expect(createHash('sha256').update(plain2).digest('hex')).toBe(meta2.plainSha256);
    const list = await cluster.cli(['snapshot', 'list', '--dir', ageDir, '--format', 'json']);
    expect(JSON.parse(list.stdout).map((x: { file: string }) => x.file)).toEqual([
      join(ageDir, meta2.file),
      ageFile,
    ]);
    rmSync(join(ageDir, meta2.file));
    rmSync(join(ageDir, `${meta2.file}.json`));

    const both = await cluster.cli([
      'snapshot',
      'save',
      '--dir',
      ageDir,
      '--encrypt-to',
      recipient,
      '--passphrase-file',
      passFile,
    ]);
    expect(both.exitCode).toBe(1);
    expect(both.stderr).toContain('Error saving a snapshot: a passphrase and age recipients were both given');
    expect(readdirSync(ageDir).sort()).toEqual([meta.file, `${meta.file}.json`]);
  });

  it('refuses a truncated file, a flipped byte and metadata of another flavor, with the reason', async () => {
    const snapFile = await plainSnapshot();
    const data = readFileSync(snapFile);
    const meta = JSON.parse(readFileSync(`${snapFile}.json`, 'utf8'));
    const cut = join(dir, 'cut.snap');
    writeFileSync(cut, data.subarray(0, data.length - 100));
    writeFileSync(`${cut}.json`, JSON.stringify(meta));
    const r1 = await cluster.cli(['snapshot', 'verify', cut]);
    expect(r1.exitCode).toBe(1);
    expect(r1.stderr).toContain('truncated');
    const flip = join(dir, 'flip.snap');
    const copy = Buffer.from(data);
    copy[Math.floor(copy.length / 2)]! ^= 0xff;
    writeFileSync(flip, copy);
    writeFileSync(`${flip}.json`, JSON.stringify(meta));
    const r2 = await cluster.cli(['snapshot', 'verify', flip]);
    expect(r2.exitCode).toBe(1);
    expect(r2.stderr).toContain('SHA-256 mismatch');
    const vault = join(dir, 'vault.snap');
    writeFileSync(vault, data);
    writeFileSync(`${vault}.json`, JSON.stringify({ ...meta, flavor: 'vault' }));
    const r3 = await cluster.cli(['snapshot', 'restore', vault, '--yes']);
    expect(r3.exitCode).toBe(1);
    expect(r3.stderr).toContain('the snapshot is from vault, the target runs openbao');
    for (const f of ['cut.snap', 'flip.snap', 'vault.snap']) {
      execFileSync('rm', ['-f', join(dir, f), join(dir, `${f}.json`)]);
    }
  });

  it('a full disk during save: exit 1 saying so, no partial file and nothing under the final name', async () => {
    const small = join(cluster.base, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', small]);
    try {
      const r = await cluster.cli(['snapshot', 'save', '--dir', small]);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('the disk is full');
      expect(readdirSync(small)).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('Ctrl-C during save: exit 130, no partial file and nothing under the final name', async () => {
    const out = join(cluster.base, 'interrupted');
    mkdirSync(out);
    // The nodes send at most 50 KB/s (a token bucket on their interface): the download of about
    // 250 KiB takes seconds, so the interrupt lands in the middle of it (a save that still
    // finishes first is retried).
    const shape = async (on: boolean) => {
      for (let i = 0; i < 3; i++) {
        const pid = (await docker.getContainer(cluster.container(i)).inspect()).State.Pid;
        const args = ['-t', String(pid), '-n', 'tc', 'qdisc', on ? 'add' : 'del', 'dev', 'eth0', 'root'];
        const tbf = ['tbf', 'rate', '400kbit', 'burst', '16kb', 'latency', '2s'];
        await execa('nsenter', on ? [...args, ...tbf] : args, { reject: on });
      }
    };
    await shape(true);
    let interrupted = 0;
    try {
      for (let attempt = 0; attempt < 3 && interrupted === 0; attempt++) {
        const child = execa('node', [CLI, '--cluster', cluster.name, 'snapshot', 'save', '--dir', out], {
          cwd: cluster.base,
          env: { NO_COLOR: '1', CI: 'true' },
          reject: false,
          stdin: 'ignore',
        });
        let err = '';
        child.stderr?.on('data', (d: Buffer) => {
          err += d.toString();
        });
        const start = Date.now();
        while (!err.includes('saving a snapshot of') && Date.now() - start < 60_000)
          await new Promise((r) => setTimeout(r, 5));
        expect(err).toContain('saving a snapshot of');
        await new Promise((r) => setTimeout(r, 200));
        child.kill('SIGINT');
        const res = await child;
        cliOutputs.push(String(res.stdout), String(res.stderr));
        // Never a partial file, whichever came first.
        expect(readdirSync(out).filter((f) => f.includes('partial'))).toEqual([]);
        if (res.exitCode === 0) {
          for (const f of readdirSync(out)) rmSync(join(out, f));
          continue;
        }
        expect(res.exitCode, String(res.stderr)).toBe(130);
        expect(String(res.stderr)).toMatch(/cancelled/);
        expect(readdirSync(out)).toEqual([]);
        interrupted++;
      }
    } finally {
      await shape(false);
    }
    expect(interrupted, 'every save finished before the interrupt').toBe(1);
    const h = await waitForHealth(
      cluster.spec.nodes.map((n, i) => ({ name: n.name, address: cluster.address(i) })),
      3,
      { ...cluster.healthDeps(), waitMs: 60_000 },
    );
    expect(h.verdict, h.reasons.join('; ')).toBe('healthy');
  });

  it('lists newest first and prunes to --keep', async () => {
    for (let i = 0; i < 2; i++)
      expect((await cluster.cli(['snapshot', 'save', '--dir', dir, '--keep', '3'])).exitCode).toBe(0);
    const list = JSON.parse(
      (await cluster.cli(['snapshot', 'list', '--dir', dir, '--format', 'json'])).stdout,
    );
    expect(list).toHaveLength(3);
    expect(list[0].createdAt >= list[1].createdAt).toBe(true);
    const pruned = JSON.parse(
      (await cluster.cli(['snapshot', 'prune', '--dir', dir, '--keep', '1', '--format', 'json'])).stdout,
    );
    expect(pruned.removed).toHaveLength(2);
  });

  it('with no leader (2 of 3 nodes down): refused (exit 2); with standbys that forward every request --allow-stale is refused too, saying why', async () => {
    const staleDir = join(cluster.base, 'stale');
    mkdirSync(staleDir);
    const roles = await Promise.all(
      [0, 1, 2].map(async (i) => ((await cluster.api(i).health()).standby ? 'standby' : 'active')),
    );
    const active = roles.indexOf('active');
    const standby = roles.indexOf('standby');
    expect(active, roles.join(',')).toBeGreaterThanOrEqual(0);
    // The active node and one standby go: the last standby cannot win an election alone.
    const stopped = [active, [0, 1, 2].find((i) => i !== active && i !== standby)!];
    const left = cluster.node(standby).name;
    for (const i of stopped) await cluster.runtime.stopContainer(cluster.container(i), 5);
    try {
      const refused = await cluster.cli(['snapshot', 'save', '--dir', staleDir]);
      expect(refused.exitCode, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(
        /^Error saving a snapshot: no active node \(.*unreachable.*\): only the standby /m,
      );
      expect(refused.stderr).toContain(`only the standby ${left} answers`);
      // The default spec: standbys forward every request, so none can save a snapshot alone, and
      // --allow-stale says so instead of failing half-way (the stale path itself: snapshot-stale.test.ts).
      expect(refused.stderr).toMatch(/^hint: .*standbyReads: false/m);
      expect(readdirSync(staleDir)).toEqual([]);
      const r = await cluster.cli(['snapshot', 'save', '--dir', staleDir, '--allow-stale']);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`only the standby ${left} answers`);
      expect(r.stderr).toMatch(/^hint: .*--allow-stale neither/m);
      expect(readdirSync(staleDir)).toEqual([]);
    } finally {
      for (const i of stopped) await cluster.runtime.startContainer(cluster.container(i));
      const h = await cluster.cli(['health', '--wait', '90s']);
      expect(h.exitCode, h.stdout).toBe(0);
    }
  });
});

describe('snapshot restore', () => {
  it('brings deleted secrets back in the same cluster, with their versions', async () => {
    const snapFile = await plainSnapshot();
    const before = await readAll();
    expect(before.size).toBe(paths.length);
    const c = client();
    for (const p of paths.slice(0, 40)) await c.deleteSecret(c.credentialPath(p.t, p.ex, p.ty));
    expect((await readAll()).size).toBe(paths.length - 40);
    const r = await cluster.cli(['snapshot', 'restore', snapFile, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('into the running cluster');
    expect(await readAll()).toEqual(before);
  });

  it('restores from an age-encrypted file with VAULTCTL_SNAPSHOT_IDENTITY; a wrong identity exits 1 and changes nothing', async () => {
    const { ageKey, otherKey } = await ageKeys();
    const ageFile = await ageSnapshot();
    const before = await readAll();
    const c = client();
    for (const p of paths.slice(0, 10)) await c.deleteSecret(c.credentialPath(p.t, p.ex, p.ty));
    const wrong = await cluster.cli(['snapshot', 'restore', ageFile, '--yes', '--identity', otherKey]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toContain('cannot decrypt: wrong identity');
    expect((await readAll()).size).toBe(paths.length - 10);
    const r = await cluster.cli(['snapshot', 'restore', ageFile, '--yes'], {
      VAULTCTL_SNAPSHOT_IDENTITY: ageKey,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('into the running cluster');
    expect(await readAll()).toEqual(before);
  });

  it('refuses to restore while a node is down (exit 2) and changes nothing', async () => {
    const snapFile = await plainSnapshot();
    const before = await readAll();
    await cluster.runtime.stopContainer(cluster.container(2), 5);
    try {
      const r = await cluster.cli(['snapshot', 'restore', snapFile, '--yes']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('node vault-3 does not answer');
      expect(r.stderr).toContain('Nothing was changed');
    } finally {
      await cluster.runtime.startContainer(cluster.container(2));
    }
    const h = await cluster.cli(['health', '--wait', '60s']);
    expect(h.exitCode, h.stdout).toBe(0);
    expect(await readAll()).toEqual(before);
  });

  it('after total loss (down --volumes) a fresh cluster restored from the snapshot has every secret; health exits 0', async () => {
    const snapFile = await plainSnapshot();
    const before = await readAll();
    const down = await cluster.cli(['down', '--volumes', '--yes']);
    expect(down.exitCode, down.stderr).toBe(0);
    const up = await cluster.cli(['up']);
    expect(up.exitCode, up.stderr).toBe(0);
    const r = await cluster.cli(['snapshot', 'restore', snapFile, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('into the fresh cluster');
    expect(await readAll()).toEqual(before);
    const h = await cluster.cli(['health']);
    expect(h.exitCode, h.stdout).toBe(0);
    // The audit device still writes.
    const { readContainerFile } = await import('../helpers/cluster.js');
    await client().readSecret(client().credentialPath(paths[0]!.t, 'binance', 'readonly'));
    const log = await readContainerFile(cluster.container(0), '/openbao/logs/audit.log');
    expect(log.length).toBeGreaterThan(0);
  });

  it('no key, token or passphrase appeared in any vaultctl output', async () => {
    await ageKeys();
    expect(ageSecrets.length).toBeGreaterThanOrEqual(2);
    expect(leakedSecrets(cluster.knownSecrets([passphrase, ...ageSecrets]))).toEqual([]);
  });
});
