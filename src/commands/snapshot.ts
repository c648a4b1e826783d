import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { errorMessage, UsageError } from '../errors.js';
import { table } from '../output/format.js';
import { listSnapshots, pruneSnapshots } from '../snapshot/catalog.js';
import { chooseEncryption, parseRecipients, readIdentities, readPassphrase } from '../snapshot/encryption.js';
import { encryptionFormat, hasKeyFor, type SnapshotKeys, type SnapshotMeta } from '../snapshot/meta.js';
import { restoreCluster } from '../snapshot/restore-cluster.js';
import { saveSnapshot } from '../snapshot/save.js';
import { chooseSnapshotSource } from '../snapshot/source.js';
import { verifySnapshot } from '../snapshot/verify.js';
import type { CommandDeps, GlobalOptions } from './command-deps.js';
import { confirm, openManagedCluster, output } from './command-deps.js';
import { action, countFlag, durationFlag } from './flags.js';
import { locked } from './lock.js';
import { downloadS3Snapshot, registerStatus, runListFrom } from './snapshot-remote.js';

interface PassOpts {
  readonly passphraseFile?: string;
}

interface KeyOpts extends PassOpts {
  readonly identity?: string;
  readonly gpgKey?: string;
}

interface SaveOpts extends PassOpts {
  /** Nodes of a cluster vaultctl did not start (after `init --addr`). */
  readonly addr?: string[];
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
    gpgKeyFile: opts.gpgKey
      ? resolve(deps.cwd, opts.gpgKey)
      : deps.env.VAULTCTL_SNAPSHOT_GPG_KEY || undefined,
    gpgPassphraseFile: deps.env.VAULTCTL_SNAPSHOT_GPG_PASSPHRASE_FILE || undefined,
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
  const keep = opts.keep ? countFlag(opts.keep, 'keep', 1) : undefined;
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
  const { spec, state, cluster } = openManagedCluster(global, {}, deps, doing, opts.addr);
  const { api, token, stale } = await chooseSnapshotSource(cluster, spec, {
    allowStale: opts.allowStale ?? false,
    progress: deps.progress,
    doing,
  });
  const meta = await saveSnapshot(
    spec,
    state,
    { api, token, tls: cluster.tls, progress: deps.progress, signal: deps.signal },
    {
      ...(file ? { file: resolve(deps.cwd, file) } : {}),
      ...(opts.dir ? { dir: resolve(deps.cwd, opts.dir) } : {}),
      ...enc,
      stale,
    },
  );
  const removed = keep && opts.dir ? pruneSnapshots(resolve(deps.cwd, opts.dir), keep) : [];
  deps.progress.stop();
  output(global, deps)({ ...meta, pruned: removed }, () => {
    const lines: string[] = [];
    lines.push(
      `Saved ${meta.file}: ${meta.size} bytes, sha256 ${meta.sha256.slice(0, 16)}…, raft index ${meta.raftIndex ?? '?'}${encryptedNote(meta)}${staleNote(meta)}.`,
    );
    for (const r of removed) lines.push(`  pruned ${r}`);
    return lines;
  });
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
  output(global, deps)({ ok: true, decrypted, meta }, () => {
    const lines: string[] = [];
    const how =
      format === null
        ? ''
        : decrypted
          ? '; decrypts'
          : format === 'age'
            ? '; encrypted to age recipients: decryption not checked, pass --identity to check it'
            : '; encrypted: pass the passphrase to check decryption';
    lines.push(`${file}: OK (size and SHA-256 match${how}${decrypted ? '; archive reads' : ''}).`);
    lines.push(
      `  cluster ${meta.cluster} (${meta.clusterId}), ${meta.flavor} ${meta.version}, ${meta.sealType} seal, raft index ${meta.raftIndex ?? '?'}, ${meta.createdAt}`,
    );
    return lines;
  });
  return 0;
}

export async function runList(
  global: GlobalOptions,
  opts: { dir?: string; from?: string },
  deps: CommandDeps,
): Promise<number> {
  if (opts.from) return runListFrom(global, opts.from, deps);
  if (!opts.dir)
    throw new UsageError(
      'listing snapshots',
      'give --dir DIR (a local directory) or --from s3://bucket/prefix',
      'e.g. vaultctl snapshot list --dir /backups',
    );
  const list = listSnapshots(resolve(deps.cwd, opts.dir));
  output(global, deps)(list, () => {
    const lines: string[] = [];
    if (list.length === 0) lines.push(`No snapshots in ${opts.dir}.`);
    else {
      lines.push(
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
    return lines;
  });
  return 0;
}

export async function runPrune(
  global: GlobalOptions,
  opts: { dir: string; keep: string; maxAge?: string },
  deps: CommandDeps,
): Promise<number> {
  const keep = countFlag(opts.keep, 'keep', 1);
  const ageMs = opts.maxAge !== undefined ? durationFlag(opts.maxAge, 'max-age') : undefined;
  const removed = pruneSnapshots(resolve(deps.cwd, opts.dir), keep, ageMs);
  output(global, deps)({ removed }, () => {
    const lines: string[] = [];
    lines.push(removed.length === 0 ? 'Nothing to prune.' : removed.map((r) => `removed ${r}`).join('\n'));
    return lines;
  });
  return 0;
}

export async function runRestore(
  global: GlobalOptions,
  file: string,
  opts: KeyOpts & { yes?: boolean; force?: boolean },
  deps: CommandDeps,
): Promise<number> {
  const doing = `restoring ${file}`;
  const keys = readKeys(opts, deps);
  const { spec, cluster } = openManagedCluster(global, {}, deps, doing);
  await confirm(deps, `Replace all data of cluster ${spec.name} with ${file}?`, opts.yes, doing);
  // From S3: the object and its sidecar into a private temp dir, then exactly a local restore.
  const remote = file.startsWith('s3://') ? await downloadS3Snapshot(global, file, deps) : undefined;
  const path = remote ? remote.file : resolve(deps.cwd, file);
  let res: Awaited<ReturnType<typeof restoreCluster>>;
  try {
    res = await restoreCluster(
      cluster,
      path,
      keys,
      { progress: deps.progress, signal: deps.signal },
      { force: opts.force ?? false, doing },
    );
  } finally {
    remote?.cleanup();
  }
  deps.progress.stop();
  output(global, deps)(
    {
      restored: res.meta.file,
      into: res.into,
      forced: res.forced,
      raftIndex: res.meta.raftIndex,
      health: res.health.verdict,
      dataOnEveryNodeSeconds: res.dataOnEveryNodeSeconds,
      healthySeconds: res.healthySeconds,
    },
    () => {
      const lines: string[] = [];
      lines.push(
        `Restored ${res.meta.file} (raft index ${res.meta.raftIndex ?? '?'}, ${res.meta.createdAt}) into the ${res.into}${res.forced ? ' (forced)' : ''}; ` +
          `every node had the data after ${res.dataOnEveryNodeSeconds === null ? '?' : res.dataOnEveryNodeSeconds.toFixed(1)} s, the cluster was healthy after ${res.healthySeconds.toFixed(1)} s.`,
      );
      return lines;
    },
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
    c
      .option(
        '--identity <file>',
        'age identity file (age-keygen output) to decrypt a .snap.age file; or VAULTCTL_SNAPSHOT_IDENTITY=<file>',
      )
      .option(
        '--gpg-key <file>',
        'GPG private key file (gpg --export-secret-keys --armor) to decrypt a .snap.gpg file; or VAULTCTL_SNAPSHOT_GPG_KEY=<file> (its passphrase: VAULTCTL_SNAPSHOT_GPG_PASSPHRASE_FILE)',
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
        '--addr <url...>',
        'node addresses of a cluster initialised with `init --addr` (one per node, the order init was given); --cluster names its state dir',
      )
      .option(
        '--allow-stale',
        'with no active node (quorum lost), save from a standby anyway: its data may miss acknowledged writes; the sidecar says stale',
      ),
  ).action(
    action(deps.setExitCode, (global, file: string | undefined, opts: SaveOpts) =>
      runSave(global, file, opts, deps),
    ),
  );
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
  ).action(
    action(deps.setExitCode, (global, file: string, opts: KeyOpts) => runVerify(global, file, opts, deps)),
  );
  snap
    .command('list')
    .summary('list the snapshots in a directory or an S3 prefix, newest first')
    .description(
      'With --from s3://bucket/prefix: the verified snapshots the agent stored there (an object without its .json sidecar ' +
        'is an unfinished upload and is not listed). Region, endpoint and credentials come from the spec destination with ' +
        'that bucket, else AWS_REGION, AWS_ENDPOINT_URL_S3 and the AWS_* credentials.\n\nExample:\n  $ vaultctl snapshot list --dir /backups\n' +
        '  $ vaultctl snapshot list --from s3://alphapulse-backups/vault',
    )
    .option('--dir <dir>', 'directory')
    .option('--from <url>', 's3://bucket/prefix (or a directory the agent writes to)')
    .action(
      action(deps.setExitCode, (global, opts: { dir?: string; from?: string }) =>
        runList(global, opts, deps),
      ),
    );
  registerStatus(snap, deps);
  snap
    .command('prune')
    .summary('keep the newest N snapshots (and, with --max-age, drop only the older ones)')
    .description('Example:\n  $ vaultctl snapshot prune --dir /backups --keep 7 --max-age 30d')
    .requiredOption('--dir <dir>', 'directory')
    .requiredOption('--keep <n>', 'always keep the newest n')
    .option('--max-age <age>', 'remove only snapshots older than this (e.g. 30d, 48h)')
    .action(
      action(deps.setExitCode, (global, opts: { dir: string; keep: string; maxAge?: string }) =>
        runPrune(global, opts, deps),
      ),
    );
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
            '  $ vaultctl snapshot restore /backups/alphapulse-2026-11-28T02-00-00-000Z.snap.age --identity /root/vaultctl-age.key --yes\n' +
            '  $ vaultctl snapshot restore s3://alphapulse-backups/vault/alphapulse-2026-11-28T02-00-00-000Z.snap.gpg --gpg-key /root/backup-key.asc --yes',
        )
        .option('-y, --yes', 'do not ask for confirmation')
        .option('--force', 'restore even when the target seems unable to unseal the data'),
    ),
  ).action(
    action(deps.setExitCode, (global, file: string, opts: KeyOpts & { yes?: boolean; force?: boolean }) =>
      locked(global, deps, 'snapshot restore', () => runRestore(global, file, opts, deps)),
    ),
  );
}
