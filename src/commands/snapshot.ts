import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../cluster/poll.js';
import { errorMessage, RemoteError, UsageError } from '../errors.js';
import { json, table } from '../output/format.js';
import { listSnapshots, pruneSnapshots } from '../snapshot/catalog.js';
import { chooseEncryption, parseRecipients, readIdentities, readPassphrase } from '../snapshot/encryption.js';
import { encryptionFormat, hasKeyFor, type SnapshotKeys, type SnapshotMeta } from '../snapshot/meta.js';
import { restoreCluster } from '../snapshot/restore-cluster.js';
import { saveSnapshot } from '../snapshot/save.js';
import { verifySnapshot } from '../snapshot/verify.js';
import type { CommandDeps, GlobalOptions } from './context.js';
import { confirm, openManagedCluster } from './context.js';
import { locked } from './lock.js';

interface PassOpts {
  readonly passphraseFile?: string;
}

interface KeyOpts extends PassOpts {
  readonly identity?: string;
}

interface SaveOpts extends PassOpts {
  readonly dir?: string;
  readonly keep?: string;
  readonly encrypt?: boolean;
  readonly encryptTo?: string[];
  readonly recipientsFile?: string;
  readonly allowStale?: boolean;
}

/** What decrypts a snapshot for verify/restore: passphrase and/or age identity, from files or env. */
function readKeys(opts: KeyOpts, deps: CommandDeps): SnapshotKeys {
  return {
    passphrase: readPassphrase(
      opts.passphraseFile ? resolve(deps.cwd, opts.passphraseFile) : undefined,
      deps.env,
    ),
    identities: readIdentities(opts.identity ? resolve(deps.cwd, opts.identity) : undefined, deps.env),
  };
}

/** age recipients from --encrypt-to (repeatable, comma-separated) and --recipients-file. */
function readRecipients(opts: SaveOpts, deps: CommandDeps): string[] | undefined {
  if (!opts.encryptTo?.length && !opts.recipientsFile) return undefined;
  let file: { path: string; text: string } | undefined;
  if (opts.recipientsFile) {
    const path = resolve(deps.cwd, opts.recipientsFile);
    try {
      file = { path: opts.recipientsFile, text: readFileSync(path, 'utf8') };
    } catch (err) {
      throw new UsageError(
        'reading the age recipients',
        errorMessage(err),
        '--recipients-file takes a file with one age1... recipient a line',
      );
    }
  }
  return parseRecipients(opts.encryptTo ?? [], file);
}

function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(
      `reading --${name}`,
      `"${v}" is not a positive integer`,
      `--${name} takes a whole number of at least 1`,
    );
  return n;
}

export async function runSave(
  global: GlobalOptions,
  file: string | undefined,
  opts: SaveOpts,
  deps: CommandDeps,
): Promise<number> {
  const doing = 'saving a snapshot';
  if (file && opts.dir)
    throw new UsageError(
      doing,
      'give a FILE or --dir, not both',
      'FILE names the snapshot; with --dir vaultctl names it <cluster>-<time>.snap',
    );
  if (opts.keep && !opts.dir)
    throw new UsageError(
      doing,
      '--keep needs --dir',
      '--keep prunes the snapshots in --dir: add --dir DIR, or drop --keep',
    );
  const keep = opts.keep ? positiveInt(opts.keep, 'keep') : undefined;
  const passphrase = readPassphrase(
    opts.passphraseFile ? resolve(deps.cwd, opts.passphraseFile) : undefined,
    deps.env,
  );
  const enc = chooseEncryption(passphrase, readRecipients(opts, deps));
  if (opts.encrypt && !enc) {
    throw new UsageError(
      doing,
      '--encrypt needs a passphrase or age recipients',
      'pass --passphrase-file FILE or set VAULTCTL_SNAPSHOT_PASSPHRASE, or --encrypt-to age1... / --recipients-file FILE',
    );
  }
  const { spec, state, cluster } = openManagedCluster(global, {}, deps, doing);
  const token = await cluster.token();
  const serving = await cluster.servingNode(doing, token);
  const stale = serving.standby
    ? { node: serving.node.name, reason: `no active node (${serving.problems.join(', ') || 'no leader'})` }
    : undefined;
  // Standbys that forward every request (the default, standbyReads: false) have no active node to
  // forward a snapshot request to: only a cluster with standby reads can save a stale one.
  const staleSavable = spec.standbyReads;
  if (stale && (!opts.allowStale || !staleSavable)) {
    throw new RemoteError(
      doing,
      `${stale.reason}: only the standby ${stale.node} answers, and its data may miss writes the cluster acknowledged`,
      staleSavable
        ? 'bring the other nodes back (`vaultctl health` shows them, `vaultctl up` starts stopped ones), or pass --allow-stale to save what this standby has'
        : 'bring the other nodes back (`vaultctl health` shows them, `vaultctl up` starts stopped ones); its standbys forward every request (standbyReads: false), so no standby can save one, --allow-stale neither',
    );
  }
  // Loud on purpose: a backup job's log is where a stale snapshot must be noticed.
  if (stale)
    deps.progress.warn(
      `STALE SNAPSHOT (--allow-stale): ${stale.reason}; saving from the standby ${stale.node}, whose data may miss acknowledged writes; the sidecar records it`,
    );
  const api = serving.api;
  const tls = cluster.tls;
  const meta = await saveSnapshot(
    spec,
    state,
    { api, token: token!, tls, progress: deps.progress, signal: deps.signal },
    {
      ...(file ? { file: resolve(deps.cwd, file) } : {}),
      ...(opts.dir ? { dir: resolve(deps.cwd, opts.dir) } : {}),
      ...enc,
      stale,
    },
  );
  const removed = keep && opts.dir ? pruneSnapshots(resolve(deps.cwd, opts.dir), keep) : [];
  deps.progress.stop();
  if (global.format === 'json') deps.out(json({ ...meta, pruned: removed }));
  else {
    deps.out(
      `Saved ${meta.file}: ${meta.size} bytes, sha256 ${meta.sha256.slice(0, 16)}…, raft index ${meta.raftIndex ?? '?'}${encryptedNote(meta)}${staleNote(meta)}.`,
    );
    for (const r of removed) deps.out(`  pruned ${r}`);
  }
  return 0;
}

function staleNote(meta: SnapshotMeta): string {
  return meta.stale
    ? `, term ${meta.raftTerm ?? '?'}; STALE: saved from the standby ${meta.stale.node}, ${meta.stale.reason}`
    : '';
}

function encryptedNote(meta: Parameters<typeof encryptionFormat>[0]): string {
  const format = encryptionFormat(meta);
  if (format === 'age') return ', encrypted to age recipients';
  return format ? ', encrypted' : '';
}

export async function runVerify(
  global: GlobalOptions,
  file: string,
  opts: KeyOpts,
  deps: CommandDeps,
): Promise<number> {
  const keys = readKeys(opts, deps);
  const meta = await verifySnapshot(resolve(deps.cwd, file), keys);
  const decrypted = hasKeyFor(meta, keys);
  const format = encryptionFormat(meta);
  if (global.format === 'json') deps.out(json({ ok: true, decrypted, meta }));
  else {
    const how =
      format === null
        ? ''
        : decrypted
          ? '; decrypts'
          : format === 'age'
            ? '; encrypted to age recipients: decryption not checked, pass --identity to check it'
            : '; encrypted: pass the passphrase to check decryption';
    deps.out(`${file}: OK (size and SHA-256 match${how}${decrypted ? '; archive reads' : ''}).`);
    deps.out(
      `  cluster ${meta.cluster} (${meta.clusterId}), ${meta.flavor} ${meta.version}, ${meta.sealType} seal, raft index ${meta.raftIndex ?? '?'}, ${meta.createdAt}`,
    );
  }
  return 0;
}

export async function runList(
  global: GlobalOptions,
  opts: { dir: string },
  deps: CommandDeps,
): Promise<number> {
  const list = listSnapshots(resolve(deps.cwd, opts.dir));
  if (global.format === 'json') deps.out(json(list));
  else if (list.length === 0) deps.out(`No snapshots in ${opts.dir}.`);
  else {
    deps.out(
      table(
        ['FILE', 'CREATED', 'SIZE', 'CLUSTER', 'RAFT INDEX', 'ENCRYPTED'],
        list.map((s) => [
          s.file,
          s.createdAt,
          String(s.size),
          s.meta?.cluster ?? '(no metadata)',
          String(s.meta?.raftIndex ?? '-'),
          (s.meta && encryptionFormat(s.meta)) ?? 'no',
        ]),
      ),
    );
  }
  return 0;
}

export async function runPrune(
  global: GlobalOptions,
  opts: { dir: string; keep: string; maxAge?: string },
  deps: CommandDeps,
): Promise<number> {
  const keep = positiveInt(opts.keep, 'keep');
  const maxAgeMs = opts.maxAge !== undefined ? parseDuration(opts.maxAge.replace(/d$/, '')) : undefined;
  if (opts.maxAge !== undefined && maxAgeMs === undefined)
    throw new UsageError('reading --max-age', `"${opts.maxAge}" is not a duration`, 'e.g. 7d, 48h');
  const ageMs =
    opts.maxAge?.endsWith('d') && maxAgeMs !== undefined ? (maxAgeMs / 1000) * 86_400_000 : maxAgeMs;
  const removed = pruneSnapshots(resolve(deps.cwd, opts.dir), keep, ageMs);
  if (global.format === 'json') deps.out(json({ removed }));
  else deps.out(removed.length === 0 ? 'Nothing to prune.' : removed.map((r) => `removed ${r}`).join('\n'));
  return 0;
}

export async function runRestore(
  global: GlobalOptions,
  file: string,
  opts: KeyOpts & { yes?: boolean; force?: boolean },
  deps: CommandDeps,
): Promise<number> {
  const path = resolve(deps.cwd, file);
  const doing = `restoring ${file}`;
  const keys = readKeys(opts, deps);
  const { spec, cluster } = openManagedCluster(global, {}, deps, doing);
  await confirm(deps, `Replace all data of cluster ${spec.name} with ${file}?`, opts.yes, doing);
  const res = await restoreCluster(
    cluster,
    path,
    keys,
    { progress: deps.progress, signal: deps.signal },
    { force: opts.force ?? false, doing },
  );
  deps.progress.stop();
  if (global.format === 'json')
    deps.out(
      json({
        restored: res.meta.file,
        into: res.into,
        forced: res.forced,
        raftIndex: res.meta.raftIndex,
        health: res.health.verdict,
        dataOnEveryNodeSeconds: res.dataOnEveryNodeSeconds,
        healthySeconds: res.healthySeconds,
      }),
    );
  else
    deps.out(
      `Restored ${res.meta.file} (raft index ${res.meta.raftIndex ?? '?'}, ${res.meta.createdAt}) into the ${res.into}${res.forced ? ' (forced)' : ''}; ` +
        `every node had the data after ${res.dataOnEveryNodeSeconds === null ? '?' : res.dataOnEveryNodeSeconds.toFixed(1)} s, the cluster was healthy after ${res.healthySeconds.toFixed(1)} s.`,
    );
  return 0;
}

export function register(program: Command, deps: CommandDeps): void {
  const snap = program.command('snapshot').summary('raft snapshots: save, verify, list, prune, restore');
  const pass = (c: Command) =>
    c.option(
      '--passphrase-file <file>',
      'passphrase (first line) for encryption; or VAULTCTL_SNAPSHOT_PASSPHRASE',
    );
  const ident = (c: Command) =>
    c.option(
      '--identity <file>',
      'age identity file (age-keygen output) to decrypt a .snap.age file; or VAULTCTL_SNAPSHOT_IDENTITY=<file>',
    );
  const collect = (v: string, prev: string[] = []) => [...prev, v];
  pass(
    snap
      .command('save [file]')
      .summary('stream a snapshot from the active node to disk (0600, checksummed, optionally encrypted)')
      .description(
        'Streams the raft snapshot to a temp file, fsyncs and renames it (never a half file under the final name), and writes ' +
          '<file>.json with cluster, version, seal, raft index, time, size and SHA-256. With a passphrase the file is encrypted ' +
          '(OpenSSL enc format, .snap.enc: `openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -md sha256` decrypts it). ' +
          'With --encrypt-to / --recipients-file it is encrypted to age X25519 recipients (public keys; .snap.age: ' +
          '`age -d -i key.txt -o X.snap X.snap.age` decrypts it). Not both.\n\n' +
          'Example:\n  $ vaultctl snapshot save --dir /backups --keep 7\n  $ VAULTCTL_SNAPSHOT_PASSPHRASE=... vaultctl snapshot save --dir /backups --encrypt' +
          '\n  $ vaultctl snapshot save --dir /backups --encrypt-to age1...,age1...\n  $ vaultctl snapshot save --dir /backups --recipients-file /etc/vaultctl/recipients.txt',
      )
      .option('--dir <dir>', 'save as <dir>/<cluster>-<time>.snap (.snap.enc, .snap.age when encrypted)')
      .option('--keep <n>', 'with --dir: keep only the newest n snapshots')
      .option(
        '--encrypt',
        'encrypt (a passphrase or age recipients are required; either given also implies this)',
      )
      .option(
        '--encrypt-to <recipients>',
        'encrypt to age X25519 recipients (age1..., comma-separated; repeatable)',
        collect,
      )
      .option(
        '--recipients-file <file>',
        "encrypt to the age recipients in FILE (age's format: one a line, # comments)",
      )
      .option(
        '--allow-stale',
        'with no active node (quorum lost), save from a standby anyway: its data may miss acknowledged writes; the sidecar says stale',
      ),
  ).action(async (file: string | undefined, opts: SaveOpts, c: Command) => {
    deps.setExitCode(await runSave(c.optsWithGlobals() as GlobalOptions, file, opts, deps));
  });
  ident(
    pass(
      snap
        .command('verify <file>')
        .summary('check size, checksum, decryption and archive of a snapshot')
        .description(
          'Exit 0 when the file is whole; 1 with the reason when it is truncated, altered or does not decrypt ' +
            '(wrong passphrase or age identity). Without the key, an encrypted file is checked as stored and the output says ' +
            'decryption was not checked.\n\nExample:\n  $ vaultctl snapshot verify /backups/alphapulse-2026-11-28T02-00-00-000Z.snap' +
            '\n  $ vaultctl snapshot verify /backups/alphapulse-2026-11-28T02-00-00-000Z.snap.age --identity /root/vaultctl-age.key',
        ),
    ),
  ).action(async (file: string, opts: KeyOpts, c: Command) => {
    deps.setExitCode(await runVerify(c.optsWithGlobals() as GlobalOptions, file, opts, deps));
  });
  snap
    .command('list')
    .summary('list the snapshots in a directory, newest first')
    .description('Example:\n  $ vaultctl snapshot list --dir /backups')
    .requiredOption('--dir <dir>', 'directory')
    .action(async (opts: { dir: string }, c: Command) => {
      deps.setExitCode(await runList(c.optsWithGlobals() as GlobalOptions, opts, deps));
    });
  snap
    .command('prune')
    .summary('keep the newest N snapshots (and, with --max-age, drop only the older ones)')
    .description('Example:\n  $ vaultctl snapshot prune --dir /backups --keep 7 --max-age 30d')
    .requiredOption('--dir <dir>', 'directory')
    .requiredOption('--keep <n>', 'always keep the newest n')
    .option('--max-age <age>', 'remove only snapshots older than this (e.g. 30d, 48h)')
    .action(async (opts: { dir: string; keep: string; maxAge?: string }, c: Command) => {
      deps.setExitCode(await runPrune(c.optsWithGlobals() as GlobalOptions, opts, deps));
    });
  ident(
    pass(
      snap
        .command('restore <file>')
        .summary('verify, then restore a snapshot and bring every node back healthy')
        .description(
          'Verifies the file, refuses a snapshot the target could not unseal (another flavor or seal, another static seal key, ' +
            "another Shamir cluster; --force restores anyway when you will supply the source's key material), asks unless --yes, " +
            'restores (snapshot-force for another cluster; into a fresh, uninitialised cluster after total loss too), unseals Shamir ' +
            'nodes with the state dir shares, and waits for a healthy cluster. An encrypted file needs its passphrase ' +
            '(.snap.enc) or age identity (.snap.age, --identity FILE or VAULTCTL_SNAPSHOT_IDENTITY=FILE).\n\nExample:\n' +
            '  $ vaultctl up && vaultctl snapshot restore /backups/alphapulse-2026-11-28T02-00-00-000Z.snap --yes\n' +
            '  $ vaultctl snapshot restore /backups/alphapulse-2026-11-28T02-00-00-000Z.snap.age --identity /root/vaultctl-age.key --yes',
        )
        .option('-y, --yes', 'do not ask for confirmation')
        .option('--force', 'restore even when the target seems unable to unseal the data'),
    ),
  ).action(async (file: string, opts: KeyOpts & { yes?: boolean; force?: boolean }, c: Command) => {
    const global = c.optsWithGlobals() as GlobalOptions;
    deps.setExitCode(
      await locked(global, deps, 'snapshot restore', () => runRestore(global, file, opts, deps)),
    );
  });
}
