/**
 * `ensureUnsealer`: brings the cluster's unsealer up and ready before any node starts. It
 * reconciles its network, volume and container, initialises it once (its recovery key and root
 * token go to `unsealer/init.json`, 0600), mounts transit with the seal key, writes the nodes'
 * policy, and hands back the nodes' periodic orphan token: renewed when it still lives, issued
 * anew when it does not (a cluster left down longer than the period). Idempotent.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Progress } from '../cluster/events.js';
import type { Clock } from '../cluster/poll.js';
import { reconcile } from '../cluster/reconcile/apply.js';
import { onlyContainers, type PlanStep } from '../cluster/reconcile/plan.js';
import { waitForContainer } from '../cluster/reconcile/wait.js';
import { UsageError } from '../errors.js';
import type { ContainerRuntime, ContainerSpec } from '../runtime/port.js';
import { LABELS } from '../runtime/port.js';
import {
  transitSettings,
  UNSEALER_DIR,
  UNSEALER_HOST,
  unsealerAddress,
  unsealerContainerName,
  usesUnsealer,
} from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';
import type { StateDir } from '../state/state-dir.js';
import { nodePaths } from '../templates/hcl.js';
import type { RenderedCluster } from '../templates/rendered.js';
import { clientTlsFromState, ensureServiceCert } from '../tls/tls.js';
import type { VaultConnector, VaultNode } from '../vault/port.js';
import { VaultRequestError } from '../vault/port.js';
import { nodeTokenPolicy, UNSEALER_FILES, UNSEALER_NODE_POLICY, unsealerSans } from './render.js';

export interface UnsealerDeps {
  readonly runtime: ContainerRuntime;
  readonly connect: VaultConnector;
  readonly progress: Progress;
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock;
}

interface UnsealerInit {
  readonly version: 1;
  readonly createdAt: string;
  readonly recoveryKeys: readonly string[];
  readonly rootToken: string;
}

interface NodeTokenFile {
  readonly token: string;
  readonly accessor: string;
  readonly period: string;
  readonly issuedAt: string;
}

export interface UnsealerResult {
  /** The nodes' token (secret: handed to the node containers through their environment only). */
  readonly token: string;
  readonly address: string;
  /** What this run did: created, started, initialised, configured, token issued or renewed. */
  readonly actions: readonly string[];
}

const path = (state: StateDir, rel: string) => join(state.root, rel);

/** The unsealer's root token from the state dir, for vaultctl's own calls (renewal, drills). */
export function unsealerRootToken(state: StateDir): string | undefined {
  const f = path(state, UNSEALER_FILES.init);
  if (!existsSync(f)) return undefined;
  return (JSON.parse(readFileSync(f, 'utf8')) as UnsealerInit).rootToken;
}

/** The nodes' transit token: the unsealer's (state dir), or for an external server a file or the environment. */
export function transitNodeToken(
  spec: ClusterSpec,
  state: StateDir,
  env: NodeJS.ProcessEnv,
): string | undefined {
  if (usesUnsealer(spec)) {
    const f = path(state, UNSEALER_FILES.nodeToken);
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as NodeTokenFile).token : undefined;
  }
  const file = spec.seal.transit?.tokenFile;
  if (file) return readFileSync(file, 'utf8').trim() || undefined;
  return env.VAULTCTL_TRANSIT_TOKEN?.trim() || undefined;
}

/**
 * The node containers with the transit token in their environment (`secretEnv`, never rendered),
 * and a config hash that follows the token: a new token means new containers.
 */
export function withTransitToken(rendered: RenderedCluster, token: string): RenderedCluster {
  const name = `${nodePaths(rendered.spec.flavor).envPrefix}_TOKEN`;
  const digest = createHash('sha256').update(token).digest('hex');
  const containers = rendered.containers.map((c): ContainerSpec => {
    if (c.labels[LABELS.kind] !== 'node') return c;
    const hash = createHash('sha256')
      .update(`${c.labels[LABELS.configHash]}:${digest}`)
      .digest('hex')
      .slice(0, 16);
    return {
      ...c,
      secretEnv: { ...c.secretEnv, [name]: token },
      labels: { ...c.labels, [LABELS.configHash]: hash },
    };
  });
  return { ...rendered, containers };
}

function waitActive(api: VaultNode, name: string, deps: UnsealerDeps, timeoutMs: number) {
  return waitForContainer(
    name,
    async () => {
      const h = await api.health();
      return !h.initialized || (!h.sealed && !h.standby) ? h : undefined;
    },
    deps,
    {
      what: `the unsealer to answer on ${api.address}`,
      doing: 'starting the unsealer',
      timeoutMs,
      intervalMs: 200,
    },
  );
}

/**
 * Renews the nodes' token from the unsealer's root token (renew-accessor), without issuing a new
 * one. The servers renew it themselves, but their renewal does not survive an outage of the
 * unsealer at renewal time (measured: the token then expires at the end of its period), so
 * vaultctl renews it after it brought the unsealer back, and on every `up`. Returns false when
 * the token is gone (`vaultctl up` issues a new one, and recreates the nodes with it).
 */
export async function renewTransitToken(state: StateDir, api: VaultNode): Promise<boolean> {
  const file = path(state, UNSEALER_FILES.nodeToken);
  const root = unsealerRootToken(state);
  if (!existsSync(file) || !root) return false;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as NodeTokenFile;
  api.setToken(root);
  try {
    await api.write(
      'auth/token/renew-accessor',
      { accessor: saved.accessor },
      "renewing the nodes' transit token",
    );
    return true;
  } catch (err) {
    if (err instanceof VaultRequestError && err.status === 400) return false;
    throw err;
  }
}

/**
 * The nodes' token as the unsealer sees it (lookup-accessor with the unsealer's root token): its
 * remaining TTL and period in seconds; undefined when it is gone or the state dir has none.
 */
export async function transitTokenTtl(
  state: StateDir,
  api: VaultNode,
): Promise<{ readonly ttl: number; readonly period: number } | undefined> {
  const file = path(state, UNSEALER_FILES.nodeToken);
  const root = unsealerRootToken(state);
  if (!existsSync(file) || !root) return undefined;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as NodeTokenFile;
  api.setToken(root);
  try {
    const res = await api.write<{ data: { ttl: number; period?: number; creation_ttl?: number } }>(
      'auth/token/lookup-accessor',
      { accessor: saved.accessor },
      "looking up the nodes' transit token",
    );
    return { ttl: res.data.ttl, period: res.data.period ?? res.data.creation_ttl ?? 0 };
  } catch (err) {
    if (err instanceof VaultRequestError && err.status === 400) return undefined;
    throw err;
  }
}

/** Renews the nodes' token when it still lives; issues a new one when it does not. */
async function ensureNodeToken(
  spec: ClusterSpec,
  state: StateDir,
  api: VaultNode,
  actions: string[],
): Promise<string> {
  const t = transitSettings(spec);
  const file = path(state, UNSEALER_FILES.nodeToken);
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as NodeTokenFile;
    try {
      await api.write(
        'auth/token/renew-accessor',
        { accessor: saved.accessor },
        "renewing the nodes' transit token",
      );
      if (saved.period === t.tokenPeriod) {
        actions.push('token renewed');
        return saved.token;
      }
      // A new period needs a new token; the old one is revoked below, once replaced.
    } catch (err) {
      // Gone (expired while the cluster was down, or revoked): a new one replaces it.
      if (!(err instanceof VaultRequestError && (err.status === 400 || err.status === 403))) throw err;
    }
  }
  const res = await api.write<{ auth: { client_token: string; accessor: string } }>(
    'auth/token/create-orphan',
    {
      policies: [UNSEALER_NODE_POLICY],
      no_default_policy: true,
      period: t.tokenPeriod,
      display_name: `${spec.name}-nodes`,
      renewable: true,
    },
    "issuing the nodes' transit token",
  );
  const saved: NodeTokenFile = {
    token: res.auth.client_token,
    accessor: res.auth.accessor,
    period: t.tokenPeriod,
    issuedAt: new Date().toISOString(),
  };
  if (existsSync(file)) {
    const old = JSON.parse(readFileSync(file, 'utf8')) as NodeTokenFile;
    await api.write('auth/token/revoke-accessor', { accessor: old.accessor }).catch(() => undefined);
  }
  state.writeFileAtomic(file, `${JSON.stringify(saved, null, 2)}\n`);
  actions.push('token issued');
  return saved.token;
}

/** The rendered unsealer container; an internal error when the cluster has none. */
function unsealerContainer(rendered: RenderedCluster): ContainerSpec {
  const container = rendered.containers.find((c) => c.labels[LABELS.kind] === 'unsealer');
  if (!container) throw new Error('internal: the rendered cluster has no unsealer');
  return container;
}

/**
 * What the unsealer needs before its container is created: its state dir, its seal key (made once,
 * never replaced; refused when its volume holds data the key would not open) and its certificate.
 */
export async function prepareUnsealer(
  rendered: RenderedCluster,
  state: StateDir,
  deps: Pick<UnsealerDeps, 'runtime' | 'progress'>,
): Promise<void> {
  const spec = rendered.spec;
  const container = unsealerContainer(rendered);
  mkdirSync(path(state, UNSEALER_DIR), { recursive: true, mode: 0o700 });
  const keyFile = path(state, UNSEALER_FILES.sealKey);
  const volumes = await deps.runtime.listVolumes({ [LABELS.cluster]: spec.name });
  const volume = container.mounts.find((m) => m.type === 'volume');
  const hadData = volumes.some((v) => volume?.type === 'volume' && v.name === volume.name);
  if (hadData && !existsSync(keyFile)) {
    throw new UsageError(
      'preparing the unsealer',
      `its volume holds an earlier unsealer's data, but ${keyFile} does not exist: a new key could not unseal it, and without the unsealer the cluster cannot unseal either`,
      'restore the state dir from its backup (it holds unsealer/seal.key), or remove the old data with `vaultctl down --volumes`',
    );
  }
  if (!existsSync(keyFile)) {
    state.writeFileAtomic(keyFile, randomBytes(32), { exclusive: true });
    deps.progress.info(
      `generated the unsealer's static seal key ${keyFile} (0600); back it up with the state dir`,
    );
  } else if (statSync(keyFile).size !== 32) {
    throw new UsageError(
      `reading the unsealer's seal key ${keyFile}`,
      `expected 32 bytes, found ${statSync(keyFile).size}`,
      'restore it from your backup (vaultctl never overwrites a seal key)',
    );
  }
  if (spec.tls.enabled) await ensureServiceCert(state, UNSEALER_HOST, unsealerSans(), deps.progress);
}

/** Initialises the unsealer once (its recovery key and root token to `unsealer/init.json`). */
async function initUnsealer(
  api: VaultNode,
  state: StateDir,
  deps: UnsealerDeps,
  wait: () => Promise<unknown>,
) {
  const initFile = path(state, UNSEALER_FILES.init);
  if (existsSync(initFile)) {
    throw new UsageError(
      'initialising the unsealer',
      `${initFile} exists but the unsealer is not initialised: its data volume was replaced`,
      'restore the unsealer volume, or remove the cluster with `vaultctl down --volumes --purge` and start again',
    );
  }
  deps.progress.step('initialising the unsealer');
  const res = await api.init({ recovery_shares: 1, recovery_threshold: 1 });
  const material: UnsealerInit = {
    version: 1,
    createdAt: new Date().toISOString(),
    recoveryKeys: res.recovery_keys_base64 ?? res.recovery_keys ?? [],
    rootToken: res.root_token,
  };
  state.writeFileAtomic(initFile, `${JSON.stringify(material, null, 2)}\n`, { exclusive: true });
  await wait();
}

/** Transit mounted, the key made, the nodes' policy written: idempotent. */
async function configureTransit(spec: ClusterSpec, api: VaultNode, deps: UnsealerDeps, actions: string[]) {
  const t = transitSettings(spec);
  const mount = t.mountPath.replace(/\/+$/, '');
  const mounts = await api.mounts();
  if (!mounts[`${mount}/`]) {
    deps.progress.step(`enabling transit at ${mount}/ on the unsealer`);
    await api.mount(mount, 'transit', {});
    actions.push('transit mounted');
  }
  const key = await api.read(`${mount}/keys/${t.keyName}`).catch((err) => {
    if (err instanceof VaultRequestError && err.status === 404) return undefined;
    throw err;
  });
  if (!key) {
    deps.progress.step(`creating the transit key ${t.keyName}`);
    await api.write(`${mount}/keys/${t.keyName}`, { type: 'aes256-gcm96' });
    actions.push('key created');
  }
  const policy = nodeTokenPolicy(t.mountPath, t.keyName);
  if ((await api.readPolicy(UNSEALER_NODE_POLICY)) !== policy)
    await api.writePolicy(UNSEALER_NODE_POLICY, policy);
}

/**
 * The unsealer's readiness gate: waits until it answers active, initialises it once, configures
 * transit and hands back the nodes' token. `actions` gets what it did.
 */
export async function configureUnsealer(
  spec: ClusterSpec,
  state: StateDir,
  deps: UnsealerDeps,
  actions: string[],
  opts: { readyTimeoutMs?: number } = {},
): Promise<UnsealerResult> {
  const name = unsealerContainerName(spec);
  const address = unsealerAddress(spec);
  const api = deps.connect({ address, timeoutMs: 5000, tls: clientTlsFromState(spec, state) });
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const h = await waitActive(api, name, deps, timeoutMs);
  if (!h.initialized) {
    await initUnsealer(api, state, deps, () => waitActive(api, name, deps, timeoutMs));
    actions.push('initialised');
  }
  const root = unsealerRootToken(state);
  if (!root) {
    throw new UsageError(
      'configuring the unsealer',
      `the unsealer is initialised but ${path(state, UNSEALER_FILES.init)} does not exist: vaultctl cannot manage it`,
      'restore the state dir from its backup',
    );
  }
  api.setToken(root);
  await configureTransit(spec, api, deps, actions);
  const token = await ensureNodeToken(spec, state, api, actions);
  if (actions.length > 0) deps.progress.done(`unsealer ${name}: ${actions.join(', ')}`);
  return { token, address, actions };
}

/** What the reconciler did to the unsealer's container, in the words `up` reports. */
export function unsealerActions(steps: readonly PlanStep[], name: string): string[] {
  const own = steps.filter((s) => s.target === name);
  if (own.some((s) => s.action === 'create-container')) return ['created'];
  return own.some((s) => s.action === 'start-container' || s.action === 'unpause-container')
    ? ['started']
    : [];
}

/**
 * Brings the unsealer alone up and ready (seal migration to transit): prepared, its container
 * reconciled (a failure removes what this run created), configured.
 */
export async function ensureUnsealer(
  rendered: RenderedCluster,
  state: StateDir,
  deps: UnsealerDeps,
  opts: { readyTimeoutMs?: number } = {},
): Promise<UnsealerResult> {
  const container = unsealerContainer(rendered);
  await prepareUnsealer(rendered, state, deps);
  let result: UnsealerResult | undefined;
  const actions: string[] = [];
  await reconcile(onlyContainers(rendered, [container.name]), {
    ...deps,
    gates: {
      unsealer: async (_gate, applied) => {
        actions.push(...unsealerActions(applied, container.name));
        result = await configureUnsealer(rendered.spec, state, deps, actions, opts);
        return undefined;
      },
    },
  });
  if (!result) throw new Error('internal: the unsealer gate did not run');
  return result;
}
