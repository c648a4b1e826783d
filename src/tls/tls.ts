/**
 * TLS material for a cluster: a CA, one certificate per node, optionally a client certificate.
 *
 * Certificates are made with the system's `openssl` (Debian ships it; no new dependency, an
 * audited implementation, and private keys go straight from openssl to files in the state dir:
 * they never pass through vaultctl's memory, argv or logs). Node's X509Certificate checks them.
 *
 * Layout in the state dir (0700):
 *   tls/ca.pem, tls/ca-key.pem (0600)           the cluster CA; never overwritten
 *   tls/<node>/{ca.pem,cert.pem,key.pem}        mounted read-only at <base>/tls in the node
 *   tls/client/{cert.pem,key.pem}               for mutual TLS (tls.requireClientCert)
 */
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Progress } from '../cluster/events.js';
import { UsageError } from '../errors.js';
import type { ClusterSpec, NodeSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import type { VaultTls } from '../vault/port.js';
import { parseDays, renewalDue } from './expiry.js';

const run = promisify(execFile);

/** What a client needs to talk to the nodes: PEM text. */
export type TlsClientMaterial = VaultTls;

export interface TlsPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  nodeDir(node: NodeSpec | string): string;
  readonly clientDir: string;
}

export function tlsPaths(state: StateDir): TlsPaths {
  const dir = join(state.root, 'tls');
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca-key.pem'),
    nodeDir: (n) => join(dir, typeof n === 'string' ? n : n.name),
    clientDir: join(dir, 'client'),
  };
}

/**
 * The names a node's certificate must carry: its hostname (peers), localhost and 127.0.0.1 (host),
 * and the endpoint's name when the cluster has one.
 */
export function nodeSans(spec: ClusterSpec, node: NodeSpec): string[] {
  const sans = [`DNS:${node.name}`, 'DNS:localhost', 'IP:127.0.0.1'];
  // Clients on the cluster network reach the active node through the endpoint by its name; TLS
  // passes through, so the node's certificate must carry that name too.
  if (spec.endpoint.enabled) sans.push('DNS:endpoint');
  if (spec.bindAddress !== '127.0.0.1' && spec.bindAddress !== '0.0.0.0') sans.push(`IP:${spec.bindAddress}`);
  return sans;
}

async function openssl(args: string[], doing: string): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000 });
  } catch (err) {
    const e = err as { code?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') {
      throw new UsageError(
        doing,
        'openssl is not installed',
        'install it (apt-get install openssl) or turn TLS off with --no-tls',
      );
    }
    throw new UsageError(
      doing,
      `openssl failed: ${(e.stderr ?? e.message).trim().split('\n')[0]}`,
      "the cause is openssl's own message; check the CA files (tls.ca) and the state dir's tls/",
    );
  }
}

function certFacts(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

/**
 * True when the certificate has exactly these SANs, is signed by the CA and is not yet due for
 * renewal (two thirds of its life, or within `warnDays` of its end: `renewalDue`).
 */
export function certIsCurrent(
  certPem: string,
  caPem: string,
  sans: readonly string[],
  now = Date.now(),
  warnDays = 30,
): boolean {
  try {
    const cert = certFacts(certPem);
    const ca = certFacts(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (renewalDue(cert.validFrom, cert.validTo, now, warnDays)) return false;
    const have = (cert.subjectAltName ?? '')
      .split(', ')
      .map((s) => s.replace('IP Address:', 'IP:'))
      .sort();
    return JSON.stringify(have) === JSON.stringify([...sans].sort());
  } catch {
    return false;
  }
}

async function issueCert(
  paths: TlsPaths,
  outDir: string,
  cn: string,
  sans: readonly string[],
  usage: 'server' | 'client',
  days = 397,
): Promise<void> {
  mkdirSync(outDir, { recursive: true, mode: 0o755 });
  const key = join(outDir, 'key.pem');
  const csr = join(outDir, 'cert.csr');
  const ext = join(outDir, 'ext.cnf');
  const cert = join(outDir, 'cert.pem');
  const doing = `issuing the TLS certificate for ${cn}`;
  writeFileSync(
    ext,
    [
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      // Nodes present their certificate as clients too (retry_join, mutual TLS).
      `extendedKeyUsage = ${usage === 'server' ? 'serverAuth, clientAuth' : 'clientAuth'}`,
      ...(sans.length > 0 ? [`subjectAltName = ${sans.join(', ')}`] : []),
      '',
    ].join('\n'),
  );
  try {
    await openssl(
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        csr,
        '-subj',
        `/CN=${cn}`,
      ],
      doing,
    );
    chmodSync(key, 0o600);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        paths.caCert,
        '-CAkey',
        paths.caKey,
        // A random serial (RFC 5280: positive, at most 20 bytes) instead of -CAcreateserial: no
        // shared ca.srl file, so the certificates of all nodes can be issued at the same time.
        '-set_serial',
        `0x${randomSerial()}`,
        '-days',
        String(days),
        '-sha256',
        '-extfile',
        ext,
        '-out',
        cert,
      ],
      doing,
    );
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
}

/** 16 random bytes as hex, the top bit cleared so that the serial is positive. */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

export interface EnsureTlsResult {
  readonly createdCa: boolean;
  readonly issued: readonly string[];
}

/**
 * Makes sure the CA and every certificate exist and are current. The CA is created once and never
 * replaced; node and client certificates are (re)issued when missing, expiring, for other names,
 * or when `force` (rotation).
 */
export async function ensureTls(
  spec: ClusterSpec,
  state: StateDir,
  progress: Progress,
  opts: { force?: boolean } = {},
): Promise<EnsureTlsResult> {
  if (!spec.tls.enabled) return { createdCa: false, issued: [] };
  const paths = tlsPaths(state);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  let createdCa = false;
  if (spec.tls.ca) {
    // Bring-your-own CA: vaultctl issues node certificates from it.
    for (const f of [spec.tls.ca.certFile, spec.tls.ca.keyFile]) {
      if (!existsSync(f))
        throw new UsageError(
          'reading the TLS CA',
          `${f} does not exist`,
          'tls.ca.certFile and tls.ca.keyFile must point at PEM files',
        );
    }
    if (
      !existsSync(paths.caCert) ||
      readFileSync(paths.caCert, 'utf8') !== readFileSync(spec.tls.ca.certFile, 'utf8')
    ) {
      copyFileSync(spec.tls.ca.certFile, paths.caCert);
      copyFileSync(spec.tls.ca.keyFile, paths.caKey);
      chmodSync(paths.caKey, 0o600);
    }
  } else if (!existsSync(paths.caCert)) {
    if (existsSync(paths.caKey)) {
      throw new UsageError(
        'creating the TLS CA',
        `${paths.caKey} exists without ${paths.caCert}`,
        'restore ca.pem from your backup; vaultctl never overwrites a key',
      );
    }
    progress.step('creating the cluster CA');
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        paths.caKey,
        '-out',
        paths.caCert,
        '-days',
        '3650',
        '-sha256',
        '-subj',
        `/CN=vaultctl ${spec.name} CA`,
        '-addext',
        'basicConstraints=critical,CA:TRUE,pathlen:0',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      'creating the cluster CA',
    );
    chmodSync(paths.caKey, 0o600);
    createdCa = true;
  }
  const caPem = readFileSync(paths.caCert, 'utf8');
  const warnDays = parseDays(spec.tls.expiryWarning);
  const issued: string[] = [];
  // Each node's key and certificate are their own openssl runs: made at the same time.
  const outcome = await Promise.allSettled(
    spec.nodes.map(async (node) => {
      const dir = paths.nodeDir(node);
      const certFile = join(dir, 'cert.pem');
      const sans = nodeSans(spec, node);
      const current =
        existsSync(certFile) &&
        certIsCurrent(readFileSync(certFile, 'utf8'), caPem, sans, Date.now(), warnDays);
      if (!current || opts.force) {
        progress.step(`issuing the TLS certificate of ${node.name}`);
        await issueCert(paths, dir, node.name, sans, 'server', parseDays(spec.tls.nodeCertValidity));
        issued.push(node.name);
      }
      if (!existsSync(join(dir, 'ca.pem')) || readFileSync(join(dir, 'ca.pem'), 'utf8') !== caPem)
        writeFileSync(join(dir, 'ca.pem'), caPem, { mode: 0o644 });
    }),
  );
  const failed = outcome.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  // In the spec's order, whichever openssl run finished first.
  const order = spec.nodes.map((n) => n.name);
  issued.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  if (spec.tls.requireClientCert) {
    const certFile = join(paths.clientDir, 'cert.pem');
    if (!existsSync(certFile) || !certIsCurrent(readFileSync(certFile, 'utf8'), caPem, []) || opts.force) {
      await issueCert(paths, paths.clientDir, `vaultctl ${spec.name} client`, [], 'client');
      issued.push('client');
    }
    // HAProxy reads certificate and key from one file for the endpoint's health checks.
    const combined = join(paths.clientDir, 'combined.pem');
    const want = readFileSync(certFile, 'utf8') + readFileSync(join(paths.clientDir, 'key.pem'), 'utf8');
    if (spec.endpoint.enabled && (!existsSync(combined) || readFileSync(combined, 'utf8') !== want))
      writeFileSync(combined, want, { mode: 0o600 });
  }
  if (createdCa || issued.length > 0)
    progress.done(
      `TLS: ${createdCa ? 'created the cluster CA; ' : ''}issued ${issued.join(', ') || 'nothing'}`,
    );
  return { createdCa, issued };
}

/** The CA (and client certificate, for mutual TLS) a client of this cluster needs; undefined without TLS. */
export function clientTlsFromState(spec: ClusterSpec, state: StateDir): TlsClientMaterial | undefined {
  if (!spec.tls.enabled) return undefined;
  const paths = tlsPaths(state);
  if (!existsSync(paths.caCert)) return undefined;
  const ca = readFileSync(paths.caCert, 'utf8');
  if (!spec.tls.requireClientCert) return { ca };
  const cert = join(paths.clientDir, 'cert.pem');
  const key = join(paths.clientDir, 'key.pem');
  if (!existsSync(cert)) return { ca };
  return { ca, cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** TLS material from BAO_CACERT/VAULT_CACERT and BAO_CLIENT_CERT/BAO_CLIENT_KEY (and VAULT_*). */
export function clientTlsFromEnv(env: NodeJS.ProcessEnv): TlsClientMaterial | undefined {
  const caFile = env.BAO_CACERT || env.VAULT_CACERT;
  if (!caFile) return undefined;
  const read = (f: string, what: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch (err) {
      throw new UsageError(
        `reading ${what}`,
        `${f}: ${(err as Error).message}`,
        'point the variable at a readable PEM file (vaultctl env prints the right ones)',
      );
    }
  };
  const certFile = env.BAO_CLIENT_CERT || env.VAULT_CLIENT_CERT;
  const keyFile = env.BAO_CLIENT_KEY || env.VAULT_CLIENT_KEY;
  return {
    ca: read(caFile, 'the CA certificate (BAO_CACERT/VAULT_CACERT)'),
    ...(certFile && keyFile
      ? { cert: read(certFile, 'the client certificate'), key: read(keyFile, 'the client key') }
      : {}),
  };
}

/**
 * A server certificate from the cluster CA for a service beside the nodes (the unsealer), issued
 * when missing, expiring or for other names, with the CA next to it. Returns true when issued now.
 */
export async function ensureServiceCert(
  state: StateDir,
  name: string,
  sans: readonly string[],
  progress: Progress,
): Promise<boolean> {
  const paths = tlsPaths(state);
  const caPem = readFileSync(paths.caCert, 'utf8');
  const dir = paths.nodeDir(name);
  const certFile = join(dir, 'cert.pem');
  const current = existsSync(certFile) && certIsCurrent(readFileSync(certFile, 'utf8'), caPem, sans);
  if (!current) {
    progress.step(`issuing the TLS certificate of ${name}`);
    await issueCert(paths, dir, name, sans, 'server');
  }
  if (!existsSync(join(dir, 'ca.pem')) || readFileSync(join(dir, 'ca.pem'), 'utf8') !== caPem)
    writeFileSync(join(dir, 'ca.pem'), caPem, { mode: 0o644 });
  return !current;
}
