/**
 * GPG encryption of snapshots with Debian's `gpg` (the seed design's "GPG-encrypted before
 * upload"): encrypt to public keys from files, decrypt with a private key from a file. Every call
 * uses a throwaway GNUPGHOME (0700, removed afterwards): the user's keyring is never read or
 * changed, and no key is trusted beyond the files given. Files hold the keys; argv never does.
 *   gpg --decrypt X.snap.gpg > X.snap   (with the private key in the keyring) decrypts by hand.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { errorMessage, UsageError } from '../errors.js';

function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'vaultctl-gpg-'));
}

const BASE = ['--batch', '--no-tty', '--quiet', '--no-permission-warning'];
/** Public-key work needs no gpg-agent: none is started for it. */
const NO_AGENT = ['--no-autostart'];

/** A throwaway home that held a secret key started a gpg-agent for it: stop it, then remove the home. */
function removeHome(home: string): void {
  // Synchronously: a CLI that exits right after the restore must not leave the agent running.
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore', timeout: 10_000 });
  rmSync(home, { recursive: true, force: true });
}

async function run(
  home: string,
  args: readonly string[],
  input?: Buffer,
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolveRun, reject) => {
    const p = spawn('gpg', ['--homedir', home, ...BASE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    p.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    p.on('error', reject);
    p.on('close', (code) => resolveRun({ code: code ?? 1, out, err }));
    p.stdin.end(input);
  });
}

export interface GpgKeyInfo {
  readonly file: string;
  readonly fingerprints: readonly string[];
  /** The file holds a secret key (it can decrypt). */
  readonly secret: boolean;
}

/** What a key file holds, or a UsageError saying why it cannot be used (names the file, never its text). */
export async function readGpgKey(
  file: string,
  doing: string,
  want: 'public' | 'secret',
): Promise<GpgKeyInfo> {
  const home = tempHome();
  try {
    const r = await run(home, [
      ...NO_AGENT,
      '--with-colons',
      '--import-options',
      'show-only',
      '--import',
      file,
    ]).catch((err: unknown) => {
      throw new UsageError(
        doing,
        `cannot run gpg: ${errorMessage(err)}`,
        'install gnupg (scripts/setup.sh does)',
      );
    });
    const lines = r.out.split('\n');
    // The primary keys' fingerprints: the fpr line right after each pub/sec line.
    const fingerprints = lines
      .filter((l, i) => l.startsWith('fpr:') && /^(pub|sec):/.test(lines[i - 1] ?? ''))
      .map((l) => l.split(':')[9] ?? '');
    const secret = lines.some((l) => l.startsWith('sec:'));
    if (r.code !== 0 || fingerprints.length === 0) {
      const why = /No such file|can't open/i.test(r.err)
        ? 'no such file, or it cannot be read'
        : 'it holds no OpenPGP key gpg can read';
      throw new UsageError(
        doing,
        `the GPG ${want} key ${file}: ${why}`,
        want === 'public'
          ? 'give files written by `gpg --export --armor KEYID > key.asc`'
          : 'give a file written by `gpg --export-secret-keys --armor KEYID > key.asc`',
      );
    }
    if (want === 'secret' && !secret)
      throw new UsageError(
        doing,
        `the GPG key ${file} is a public key and cannot decrypt`,
        'give the private key (`gpg --export-secret-keys --armor KEYID`)',
      );
    if (want === 'public' && secret)
      throw new UsageError(
        doing,
        `the GPG key ${file} holds a private key`,
        'give only the public key (`gpg --export --armor KEYID`); keep the private key off the backup host',
      );
    return { file, fingerprints: [...new Set(fingerprints)], secret };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * The stream encrypted to the public keys in `keyFiles` (binary OpenPGP). The gpg process reads
 * from `src` and its output is yielded as it comes: no plaintext touches the disk.
 */
export async function* gpgEncrypt(
  src: AsyncIterable<Buffer>,
  keyFiles: readonly string[],
): AsyncGenerator<Buffer> {
  const home = tempHome();
  try {
    const imported = await run(home, [...NO_AGENT, '--import', ...keyFiles]);
    if (imported.code !== 0)
      throw new UsageError(
        'encrypting the snapshot with GPG',
        `gpg could not import the public keys: ${imported.err.trim()}`,
        'check backup.encryption.gpgPublicKeys: files written by `gpg --export --armor KEYID`',
      );
    const recipients = (await run(home, [...NO_AGENT, '--with-colons', '--list-keys'])).out
      .split('\n')
      .filter((l) => l.startsWith('fpr:'))
      .map((l) => l.split(':')[9] ?? '');
    const args = [
      '--homedir',
      home,
      ...BASE,
      ...NO_AGENT,
      '--trust-model',
      'always',
      '--compress-algo',
      'none',
      '--encrypt',
    ];
    for (const r of recipients) args.push('--recipient', r);
    yield* pipeThrough('gpg', args, src, 'encrypting the snapshot with GPG');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The plain stream of a GPG-encrypted file, decrypted with the private key in `keyFile`. */
export async function gpgDecrypt(
  src: Readable,
  keyFile: string,
  passphraseFile: string | undefined,
  doing: string,
): Promise<Readable> {
  const home = tempHome();
  const imported = await run(home, [
    ...(passphraseFile ? ['--pinentry-mode', 'loopback', '--passphrase-file', passphraseFile] : []),
    '--import',
    keyFile,
  ]);
  if (imported.code !== 0) {
    removeHome(home);
    throw new UsageError(
      doing,
      `gpg could not import the private key ${keyFile}`,
      'give the file `gpg --export-secret-keys --armor KEYID` wrote',
    );
  }
  const args = [
    '--homedir',
    home,
    ...BASE,
    '--pinentry-mode',
    'loopback',
    ...(passphraseFile ? ['--passphrase-file', passphraseFile] : ['--passphrase', '']),
    '--decrypt',
  ];
  const gen = pipeThrough('gpg', args, src, doing, () => removeHome(home));
  return Readable.from(gen);
}

/** Runs a filter process: `src` into its stdin, its stdout yielded; a non-zero exit throws. */
async function* pipeThrough(
  cmd: string,
  args: readonly string[],
  src: AsyncIterable<Buffer>,
  doing: string,
  cleanup?: () => void,
): AsyncGenerator<Buffer> {
  const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (c: Buffer) => {
    if (err.length < 4096) err += c.toString('utf8');
  });
  const closed = new Promise<number>((res) => p.on('close', (code) => res(code ?? 1)));
  p.stdin.on('error', () => {
    // gpg exited early; its exit code says why
  });
  const feed = (async () => {
    try {
      for await (const chunk of src) {
        if (!p.stdin.write(chunk)) await new Promise((r) => p.stdin.once('drain', r));
      }
      p.stdin.end();
    } catch (e) {
      p.kill();
      throw e;
    }
  })();
  let failed = false;
  try {
    for await (const chunk of p.stdout as AsyncIterable<Buffer>) yield chunk;
    await feed;
    const code = await closed;
    if (code !== 0) {
      failed = true;
      const msg = err.trim().split('\n').slice(-2).join('; ');
      throw new UsageError(
        doing,
        /decryption failed|No secret key/i.test(msg)
          ? `cannot decrypt: wrong GPG key (${msg})`
          : `gpg failed: ${msg}`,
        /No secret key/i.test(msg)
          ? 'give the private key of one of the public keys the snapshot was encrypted to'
          : 'the sidecar lists the GPG fingerprints the snapshot was encrypted to',
      );
    }
  } finally {
    if (!failed && p.exitCode === null) p.kill();
    await feed.catch(() => undefined);
    cleanup?.();
  }
}
