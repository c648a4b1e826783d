/**
 * The `security` section of the spec: who the containers run as, and each kind's memory and
 * process limits. Every container vaultctl runs drops every capability, has a read-only root
 * filesystem and `no-new-privileges` (templates/hardening.ts); only these numbers are choices.
 */
import { z } from 'zod';

/** Debian 12's busybox-static: the one-shot helper that hands volumes to the service uid. */
export const BUSYBOX_VERSION = '1.35.0';

export function defaultHelperImage(): string {
  return `vaultctl/busybox:${BUSYBOX_VERSION}`;
}

const SIZE = /^(\d+)([kmg])$/i;

/** "512m" -> bytes; undefined when it is not <digits><k|m|g>. */
export function parseMemory(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return undefined;
  const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** The Engine refuses memory limits below 6 MiB. */
const MIN_MEMORY = 6 * 1024 ** 2;

const memory = z
  .string()
  .refine((s) => (parseMemory(s) ?? 0) >= MIN_MEMORY, 'expected a size of at least 6m, such as 512m or 1g');

function limits(mem: string, pids: number) {
  return z
    .strictObject({
      /** Memory limit (no swap beyond it): <digits>k|m|g. */
      memory: memory.default(mem),
      /** Most processes and threads at once (a fork bomb stops there). */
      pids: z.number().int().min(16).max(1_000_000).default(pids),
    })
    .prefault({});
}

export const securitySchema = z
  .strictObject({
    /**
     * The numeric uid and gid every container runs as when vaultctl runs as root (it hands them
     * the state files the containers read, and their volumes). When vaultctl runs as another user,
     * the containers run as that user's uid and gid: the state files are already theirs. Pick an
     * id no account on the host has: that account could read the keys.
     */
    uid: z.number().int().min(1).max(2_147_483_647).default(10001),
    gid: z.number().int().min(1).max(2_147_483_647).default(10001),
    /** Runs once (as root, chown capabilities only) before a container with volumes is created. */
    helperImage: z.string().min(1).default(defaultHelperImage()),
    limits: z
      .strictObject({
        node: limits('1g', 1024),
        unsealer: limits('256m', 512),
        endpoint: limits('128m', 256),
        monitoring: limits('512m', 512),
        devKms: limits('512m', 256),
        agent: limits('256m', 128),
      })
      .prefault({}),
  })
  .prefault({});

export type SecuritySpec = z.output<typeof securitySchema>;
