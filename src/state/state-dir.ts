/**
 * The state dir, `.vaultctl/<cluster>/` (0700): the spec last applied, rendered files, the static
 * seal key, init material (key shares, root token) and the AppRole credential. Secret files are
 * 0600, written through a temp file and a rename, and never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { specToInput } from '../spec/load.js';
import { SEAL_KEY_FILE } from '../spec/names.js';
import type { ClusterSpec, SealType, SpecInput } from '../spec/schema.js';
import type { RenderedCluster } from '../templates/rendered.js';
import { writeFileAtomic } from './atomic.js';

export const DEFAULT_STATE_BASE = '.vaultctl';

/** What `init` received from the first node. Secret: 0600, never printed unless asked. */
export interface InitMaterial {
  readonly version: 1;
  readonly createdAt: string;
  readonly cluster: string;
  readonly sealType: SealType;
  /** "unseal" for Shamir, "recovery" for auto-unseal seals. */
  readonly keyKind: 'unseal' | 'recovery';
  readonly shares: number;
  readonly threshold: number;
  /** Base64 key shares; PGP-encrypted when `pgp` is true (then vaultctl cannot use them itself). */
  readonly keys: readonly string[];
  readonly pgp: boolean;
  readonly rootToken: string;
}

export interface AppRoleMaterial {
  readonly roleName: string;
  readonly roleId: string;
  readonly secretId: string;
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

export class StateDir {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  static forCluster(base: string, cluster: string): StateDir {
    return new StateDir(join(base, cluster));
  }

  get specFile(): string {
    return join(this.root, 'cluster.json');
  }
  get sealKeyFile(): string {
    return join(this.root, SEAL_KEY_FILE);
  }
  get initFile(): string {
    return join(this.root, 'init.json');
  }
  get appRoleFile(): string {
    return join(this.root, 'approle.json');
  }
  get adminFile(): string {
    return join(this.root, 'admin.json');
  }
  get rootRevokedFile(): string {
    return join(this.root, 'root-revoked.json');
  }
  /** Prometheus' files; mounted read-only into the Prometheus container as a directory. */
  get monitoringDir(): string {
    return join(this.root, 'monitoring');
  }
  /**
   * The metrics token alone (no newline), read by Prometheus as its `credentials_file`. In the
   * mounted directory, not mounted as a file: a replaced token (a new inode) is seen at once.
   */
  get metricsTokenFile(): string {
    return join(this.monitoringDir, 'metrics-token');
  }

  exists(): boolean {
    return existsSync(this.root);
  }

  /**
   * Refuses a state dir (or a secret file in it) that others can read: the keys would be exposed.
   */
  checkPermissions(): void {
    if (!this.exists()) return;
    const mode = modeOf(this.root);
    if (mode & 0o077) {
      throw new UsageError(
        `using the state dir ${this.root}`,
        `it is readable by other users (mode ${mode.toString(8).padStart(4, '0')}); it holds key material`,
        `run: chmod 700 ${this.root}`,
      );
    }
    for (const f of [
      this.sealKeyFile,
      this.initFile,
      this.appRoleFile,
      this.adminFile,
      this.metricsTokenFile,
    ]) {
      if (existsSync(f) && modeOf(f) & 0o077) {
        throw new UsageError(
          `using the state dir ${this.root}`,
          `${f} is readable by other users (mode ${modeOf(f).toString(8).padStart(4, '0')})`,
          `run: chmod 600 ${f}`,
        );
      }
    }
  }

  /** Creates the dir 0700 (and its parent). Returns true when it was created now. */
  ensure(): boolean {
    const created = !this.exists();
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    chmodSync(this.root, 0o700);
    const parent = dirname(this.root);
    if (created && parent.endsWith(DEFAULT_STATE_BASE)) chmodSync(parent, 0o700);
    this.checkPermissions();
    return created;
  }

  /**
   * Writes a file 0600 atomically (state/atomic.ts), making its directory 0700 when missing. With
   * `exclusive`, an existing file is never replaced.
   */
  writeFileAtomic(path: string, content: string | Buffer, options: { exclusive?: boolean } = {}): void {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileAtomic(path, content, options);
  }

  /** Writes rendered files; returns the paths whose content changed. */
  writeRendered(rendered: RenderedCluster): string[] {
    const changed: string[] = [];
    for (const f of rendered.files) {
      const path = join(this.root, f.path);
      const old = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
      if (old === f.content) continue;
      this.writeFileAtomic(path, f.content);
      // Node configs are read by the server process in the container, which may not run as root:
      // 0644 files in 0755 node dirs, all inside the 0700 state dir.
      chmodSync(path, 0o644);
      if (dirname(path) !== this.root) chmodSync(dirname(path), 0o755);
      changed.push(f.path);
    }
    return changed;
  }

  readSavedSpec(): Record<string, unknown> | undefined {
    if (!existsSync(this.specFile)) return undefined;
    try {
      return JSON.parse(readFileSync(this.specFile, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new UsageError(
        `reading ${this.specFile}`,
        (err as Error).message,
        'delete the file; the next `vaultctl up` writes it again',
      );
    }
  }

  saveSpec(spec: ClusterSpec): void {
    const input: SpecInput = specToInput(spec);
    this.writeFileAtomic(this.specFile, `${JSON.stringify(input, null, 2)}\n`);
  }

  /** Generates the 32-byte static seal key once. Returns true when it was created now. */
  ensureSealKey(): boolean {
    if (existsSync(this.sealKeyFile)) {
      const size = statSync(this.sealKeyFile).size;
      if (size !== 32) {
        throw new UsageError(
          `reading the static seal key ${this.sealKeyFile}`,
          `expected 32 bytes, found ${size}`,
          'the file was altered; restore it from your backup (vaultctl never overwrites a seal key)',
        );
      }
      return false;
    }
    this.writeFileAtomic(this.sealKeyFile, randomBytes(32), { exclusive: true });
    return true;
  }

  readInit(): InitMaterial | undefined {
    if (!existsSync(this.initFile)) return undefined;
    try {
      return JSON.parse(readFileSync(this.initFile, 'utf8')) as InitMaterial;
    } catch (err) {
      throw new UsageError(
        `reading ${this.initFile}`,
        `not valid JSON: ${(err as Error).message}`,
        'restore the file from your backup of the key material',
      );
    }
  }

  saveInit(material: InitMaterial): void {
    this.writeFileAtomic(this.initFile, `${JSON.stringify(material, null, 2)}\n`, { exclusive: true });
  }

  readAppRole(): AppRoleMaterial | undefined {
    if (!existsSync(this.appRoleFile)) return undefined;
    return JSON.parse(readFileSync(this.appRoleFile, 'utf8')) as AppRoleMaterial;
  }

  saveAppRole(material: AppRoleMaterial): void {
    this.writeFileAtomic(this.appRoleFile, `${JSON.stringify(material, null, 2)}\n`);
  }

  readAdmin(): AppRoleMaterial | undefined {
    if (!existsSync(this.adminFile)) return undefined;
    return JSON.parse(readFileSync(this.adminFile, 'utf8')) as AppRoleMaterial;
  }

  saveAdmin(material: AppRoleMaterial): void {
    this.writeFileAtomic(this.adminFile, `${JSON.stringify(material, null, 2)}\n`);
  }

  readMetricsToken(): string | undefined {
    if (!existsSync(this.metricsTokenFile)) return undefined;
    return readFileSync(this.metricsTokenFile, 'utf8').trim() || undefined;
  }

  saveMetricsToken(token: string): void {
    this.writeFileAtomic(this.metricsTokenFile, token);
  }

  /** True once `init --revoke-root` revoked the stored root token. */
  rootRevoked(): boolean {
    return existsSync(this.rootRevokedFile);
  }

  markRootRevoked(): void {
    this.writeFileAtomic(
      this.rootRevokedFile,
      `${JSON.stringify({ revokedAt: new Date().toISOString() })}\n`,
    );
  }

  /** Removes the whole state dir, keys included. Only `down --purge` calls this. */
  purge(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  removeFile(path: string): void {
    if (existsSync(path)) unlinkSync(path);
  }
}
