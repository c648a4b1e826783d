/**
 * An S3 (or S3-compatible) destination, through the AWS SDK for JavaScript v3: multipart streaming
 * upload (lib-storage's Upload, aborted on failure, leavePartsOnError off), verification by reading
 * the object back, the sidecar `<key>.json` written last.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { errorMessage, RemoteError, UsageError } from '../errors.js';
import type { SnapshotMeta } from '../snapshot/meta.js';
import { writeFileAtomic } from '../state/atomic.js';
import { type Destination, isSnapshotName, type StoredMeta, type StoredSnapshot } from './destination.js';
import { parseS3Url, readCredentialsFile, type S3Location, type S3Options } from './s3-location.js';

export function makeS3Client(opts: S3Options, env: NodeJS.ProcessEnv): S3Client {
  return new S3Client({
    region: opts.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(opts.endpoint ? { endpoint: opts.endpoint, forcePathStyle: true } : {}),
    ...(opts.credentialsFile
      ? { credentials: readCredentialsFile(opts.credentialsFile, env.AWS_PROFILE || 'default') }
      : {}),
    // A destination that does not answer must fail a run, not hang it.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
}

/** The SDK's failure as a RemoteError that names the bucket and the S3 error code, never a key. */
function s3Error(doing: string, err: unknown, bucket: string): Error {
  if ((err as Error)?.name === 'AbortError') return err as Error;
  if (err instanceof UsageError || err instanceof RemoteError) return err;
  const name = (err as { name?: string }).name ?? '';
  const hint =
    name === 'NoSuchBucket'
      ? `create the bucket ${bucket}, or fix the destination URL`
      : /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Credentials/i.test(
            `${name} ${errorMessage(err)}`,
          )
        ? 'check the credentials (credentialsFile, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the bucket policy'
        : 'check the endpoint, the region and the network; the next run tries again';
  return new RemoteError(doing, `${name ? `${name}: ` : ''}${errorMessage(err)}`, hint);
}

export class S3Destination implements Destination {
  readonly id: string;
  readonly loc: S3Location;
  readonly client: S3Client;

  constructor(url: string, opts: S3Options, env: NodeJS.ProcessEnv, client?: S3Client) {
    this.id = url;
    const { bucket, prefix } = parseS3Url(url);
    this.loc = { bucket, prefix };
    this.client = client ?? makeS3Client(opts, env);
  }

  private key(name: string): string {
    return `${this.loc.prefix}${name}`;
  }

  async put(file: string, meta: SnapshotMeta, signal: AbortSignal): Promise<StoredSnapshot> {
    const { bucket } = this.loc;
    const key = this.key(meta.file);
    const doing = `uploading the snapshot to s3://${bucket}/${key}`;
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: bucket,
        Key: key,
        Body: createReadStream(file),
        ContentType: 'application/octet-stream',
      },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const onAbort = () => {
      void upload.abort().catch(() => undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (err) {
      // A multipart upload that failed is aborted by Upload; a single-part one leaves nothing.
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
      signal.throwIfAborted();
      throw s3Error(doing, err, bucket);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    const back = await this.hashObject(key, signal).catch((err: unknown) => {
      throw s3Error(`verifying s3://${bucket}/${key}`, err, bucket);
    });
    if (back.sha256 !== meta.sha256 || back.size !== meta.size) {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
      throw new RemoteError(
        `verifying s3://${bucket}/${key}`,
        `the bucket holds ${back.size} bytes with SHA-256 ${back.sha256.slice(0, 16)}…, ${meta.size} bytes with ${meta.sha256.slice(0, 16)}… were sent`,
        'the object was removed; the next run uploads again',
      );
    }
    const stored: StoredMeta = {
      ...meta,
      verified: { at: new Date().toISOString(), sha256: back.sha256, destination: this.id },
    };
    await this.client
      .send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `${key}.json`,
          Body: `${JSON.stringify(stored, null, 2)}\n`,
          ContentType: 'application/json',
        }),
        { abortSignal: signal },
      )
      .catch((err: unknown) => {
        throw s3Error(`writing the sidecar of s3://${bucket}/${key}`, err, bucket);
      });
    return { key, url: `s3://${bucket}/${key}`, meta: stored };
  }

  private async hashObject(key: string, signal: AbortSignal): Promise<{ sha256: string; size: number }> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: key }), {
      abortSignal: signal,
    });
    const h = createHash('sha256');
    let size = 0;
    for await (const c of res.Body as Readable) {
      h.update(c as Buffer);
      size += (c as Buffer).length;
    }
    return { sha256: h.digest('hex'), size };
  }

  private async keys(signal: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.loc.bucket,
          Prefix: this.loc.prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
        { abortSignal: signal },
      );
      for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async list(signal: AbortSignal): Promise<StoredSnapshot[]> {
    const { bucket } = this.loc;
    try {
      const keys = await this.keys(signal);
      const set = new Set(keys);
      const out: StoredSnapshot[] = [];
      for (const key of keys) {
        const name = key.slice(this.loc.prefix.length);
        if (name.includes('/') || !isSnapshotName(name) || !set.has(`${key}.json`)) continue;
        const res = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}.json` }), {
          abortSignal: signal,
        });
        try {
          const meta = JSON.parse(await res.Body!.transformToString('utf8')) as StoredMeta;
          if (meta.verified) out.push({ key, url: `s3://${bucket}/${key}`, meta });
        } catch {
          // a damaged sidecar: not a snapshot
        }
      }
      return out.sort((a, b) => b.meta.createdAt.localeCompare(a.meta.createdAt));
    } catch (err) {
      throw s3Error(`listing s3://${bucket}/${this.loc.prefix}`, err, bucket);
    }
  }

  async remove(key: string, signal: AbortSignal): Promise<void> {
    const { bucket } = this.loc;
    for (const k of [`${key}.json`, key])
      await this.client
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: k }), { abortSignal: signal })
        .catch((err: unknown) => {
          throw s3Error(`removing s3://${bucket}/${k}`, err, bucket);
        });
  }

  async fetch(key: string, toFile: string, signal: AbortSignal): Promise<StoredMeta> {
    const { bucket } = this.loc;
    const doing = `downloading s3://${bucket}/${key}`;
    try {
      const side = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: `${key}.json` }), {
        abortSignal: signal,
      });
      const text = await side.Body!.transformToString('utf8');
      const obj = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
      await pipeline(obj.Body as Readable, createWriteStream(toFile, { mode: 0o600, flags: 'wx' }), {
        signal,
      });
      const stored = JSON.parse(text) as StoredMeta;
      writeFileAtomic(`${toFile}.json`, text);
      return stored;
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey')
        throw new UsageError(
          doing,
          'no such snapshot (the object or its .json sidecar is missing: an unverified upload is not a snapshot)',
          `vaultctl snapshot list --from s3://${bucket}/${this.loc.prefix} lists the verified ones`,
        );
      throw s3Error(doing, err, bucket);
    }
  }

  async cleanup(signal: AbortSignal): Promise<string[]> {
    const { bucket, prefix } = this.loc;
    const removed: string[] = [];
    const open = await this.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }), {
      abortSignal: signal,
    });
    for (const u of open.Uploads ?? []) {
      if (!u.Key || !u.UploadId) continue;
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
        {
          abortSignal: signal,
        },
      );
      removed.push(`${u.Key} (unfinished multipart upload)`);
    }
    const keys = await this.keys(signal);
    const set = new Set(keys);
    for (const key of keys) {
      const name = key.slice(prefix.length);
      if (isSnapshotName(name) && !set.has(`${key}.json`)) {
        await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
          abortSignal: signal,
        });
        removed.push(`${key} (no sidecar: never verified)`);
      }
    }
    return removed;
  }
}
