/**
 * `ensureDevKmsKey`: the dev KMS (moto's server) answers, and the cluster's key exists under its
 * alias. Called by `up` after the KMS container starts and before any node does: a node whose
 * seal key is missing exits at once (OpenBao 2.6 does not wait for its KMS).
 */
import type { Clock } from '../cluster/poll.js';
import { PollTimeoutError, pollUntil } from '../cluster/poll.js';
import type { SealBackend } from '../drill/seal.js';
import { errorMessage, RemoteError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/port.js';
import {
  DEV_KMS_CREDENTIALS,
  DEV_KMS_REGION,
  devKmsContainerName,
  devKmsKeyAlias,
} from '../spec/dev-kms-names.js';
import { networkName } from '../spec/names.js';
import type { ClusterSpec } from '../spec/schema.js';

export interface DevKmsKey {
  readonly endpoint: string;
  readonly alias: string;
  readonly keyId: string;
  readonly created: boolean;
}

/** One KMS JSON call. moto checks no signature, only that the Authorization header names a region. */
export async function kmsCall(
  endpoint: string,
  action: string,
  body: Record<string, unknown>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `TrentService.${action}`,
      authorization: `AWS4-HMAC-SHA256 Credential=${DEV_KMS_CREDENTIALS.accessKeyId}/20250101/${DEV_KMS_REGION}/kms/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export async function ensureDevKmsKey(
  spec: ClusterSpec,
  opts: {
    readonly timeoutMs?: number;
    readonly signal?: AbortSignal | undefined;
    readonly clock?: Clock;
  } = {},
): Promise<DevKmsKey> {
  const endpoint = `http://127.0.0.1:${spec.seal.devKms.port}/`;
  const alias = devKmsKeyAlias(spec.name);
  const doing = 'preparing the dev KMS';
  let found: { status: number; json: Record<string, unknown> };
  try {
    found = await pollUntil(() => kmsCall(endpoint, 'DescribeKey', { KeyId: alias }).catch(() => undefined), {
      what: `the dev KMS to answer on ${endpoint}`,
      timeoutMs: opts.timeoutMs ?? 60_000,
      intervalMs: 250,
      signal: opts.signal,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  } catch (err) {
    if (!(err instanceof PollTimeoutError)) throw err;
    throw new RemoteError(
      doing,
      err.message,
      `\`docker logs ${spec.name}-kms\` shows why moto_server did not start`,
    );
  }
  const keyIdOf = (j: Record<string, unknown>) => (j.KeyMetadata as { KeyId?: string } | undefined)?.KeyId;
  if (found.status === 200 && keyIdOf(found.json))
    return { endpoint, alias, keyId: keyIdOf(found.json)!, created: false };
  try {
    const created = await kmsCall(endpoint, 'CreateKey', {
      Description: `vaultctl dev KMS: seal key of cluster ${spec.name}`,
    });
    const keyId = keyIdOf(created.json);
    if (!keyId) throw new Error(`CreateKey answered ${created.status}`);
    const aliased = await kmsCall(endpoint, 'CreateAlias', { AliasName: alias, TargetKeyId: keyId });
    if (aliased.status !== 200) throw new Error(`CreateAlias answered ${aliased.status}`);
    return { endpoint, alias, keyId, created: true };
  } catch (err) {
    throw new RemoteError(
      doing,
      `creating the key: ${errorMessage(err)}`,
      `\`docker logs ${spec.name}-kms\``,
    );
  }
}

/**
 * The dev KMS as the seal drill's seal backend. moto keeps its keys in memory, so stopping its
 * container would lose the cluster's key for good: the outage is a network cut instead. `stop`
 * disconnects the KMS from the cluster network (the nodes' `http://kms:5000` no longer resolves);
 * `start` connects it again under the same alias and resolves once the key answers DescribeKey.
 */
export function devKmsBackend(
  spec: ClusterSpec,
  deps: { readonly runtime: ContainerRuntime; readonly clock?: Clock },
): SealBackend {
  const name = devKmsContainerName(spec.name);
  const network = networkName(spec);
  const alias = devKmsKeyAlias(spec.name);
  const endpoint = `http://127.0.0.1:${spec.seal.devKms.port}/`;
  return {
    description: `awskms (dev KMS ${name}, cut off from ${network})`,
    async stop() {
      await deps.runtime.partitionContainer(name, [], network, 'network');
    },
    async start() {
      await deps.runtime.healPartition(name, [], network, 'network');
      await pollUntil(
        async () => {
          const r = await kmsCall(endpoint, 'DescribeKey', { KeyId: alias }).catch(() => undefined);
          return r?.status === 200 ? true : undefined;
        },
        {
          what: `the dev KMS ${name} to answer again`,
          timeoutMs: 60_000,
          intervalMs: 100,
          ...(deps.clock ? { clock: deps.clock } : {}),
        },
      );
    },
  };
}
