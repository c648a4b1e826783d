import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HISTORY_FILE } from '../../src/seal/journal.js';
import {
  keyKindAfter,
  migrateKeyKind,
  migrationRefusal,
  nextNode,
  planNodeSteps,
  stepId,
} from '../../src/seal/plan.js';
import { SNAPSHOT_FORMAT } from '../../src/snapshot/meta.js';
import { restoreRefusal } from '../../src/snapshot/restore.js';
import { resolveSpec } from '../../src/spec/resolve.js';
import type { SealType, SpecInput } from '../../src/spec/schema.js';
import type { InitMaterial } from '../../src/state/state-dir.js';
import { StateDir } from '../../src/state/state-dir.js';
import { renderNodeHcl } from '../../src/templates/hcl.js';
import { renderCluster } from '../../src/templates/render.js';

const GOLDEN = fileURLToPath(new URL('../fixtures/golden-seal-migration/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const ORDER = ['vault-1', 'vault-2', 'vault-3'];

const material = (over: Partial<InitMaterial> = {}): InitMaterial => ({
  version: 1,
  createdAt: '2026-01-01T00:00:00Z',
  cluster: 'alphapulse',
  sealType: 'static',
  keyKind: 'recovery',
  shares: 5,
  threshold: 3,
  keys: ['a', 'b', 'c', 'd', 'e'],
  pgp: false,
  rootToken: 'root',
  ...over,
});

describe('seal migration order', () => {
  it('standbys first in spec order, the active node last with a step-down, which then skips the second round', () => {
    const steps = planNodeSteps(ORDER, new Set(), 'vault-1');
    expect(steps.map((s) => [s.phase, s.node, s.stepDown, Boolean(s.direct)])).toEqual([
      ['migrate', 'vault-2', false, false],
      ['migrate', 'vault-3', false, false],
      ['migrate', 'vault-1', true, true],
      ['finalize', 'vault-3', false, true],
      ['finalize', 'vault-2', true, true],
    ]);
  });

  it('the active node in the middle of the spec order still goes last', () => {
    const steps = planNodeSteps(ORDER, new Set(), 'vault-2').filter((s) => s.phase === 'migrate');
    expect(steps.map((s) => s.node)).toEqual(['vault-1', 'vault-3', 'vault-2']);
    expect(steps.map((s) => s.stepDown)).toEqual([false, false, true]);
  });

  it('a rerun continues after the steps the journal records, and picks the active node afresh', () => {
    const done = new Set(['snapshot', stepId('migrate', 'vault-2')]);
    expect(nextNode('migrate', ORDER, done, 'vault-1')).toEqual({
      phase: 'migrate',
      node: 'vault-3',
      stepDown: false,
    });
    // The leader changed between runs: the one left that is not active goes first.
    const left = new Set([...done, stepId('migrate', 'vault-3')]);
    expect(nextNode('migrate', ORDER, left, 'vault-3')).toEqual({
      phase: 'migrate',
      node: 'vault-1',
      stepDown: false,
    });
    expect(nextNode('migrate', ORDER, left, 'vault-1')).toEqual({
      phase: 'migrate',
      node: 'vault-1',
      stepDown: true,
    });
    const all = new Set(ORDER.map((n) => stepId('migrate', n)));
    expect(nextNode('migrate', ORDER, all, 'vault-1')).toBeUndefined();
    expect(
      planNodeSteps(ORDER, new Set([...all, ...ORDER.map((n) => stepId('finalize', n))]), 'vault-1'),
    ).toEqual([]);
  });
});

describe('which keys -migrate takes, and what they are afterwards', () => {
  const cases: [SealType, SealType, string, string][] = [
    ['static', 'transit', 'recovery', 'recovery'],
    ['shamir', 'transit', 'unseal', 'recovery'],
    ['transit', 'shamir', 'recovery', 'unseal'],
    ['shamir', 'static', 'unseal', 'recovery'],
  ];
  for (const [from, to, takes, after] of cases)
    it(`${from} -> ${to}: ${takes} keys, then ${after} keys`, () => {
      expect(migrateKeyKind(from)).toBe(takes);
      expect(keyKindAfter(to)).toBe(after);
    });
});

describe('migrationRefusal', () => {
  const f = '/s/init.json';
  it('refuses the seal the cluster has', () => {
    expect(migrationRefusal('static', 'static', material(), f)?.message).toMatch(
      /already uses the static seal/,
    );
  });
  it('refuses without key shares, with PGP-encrypted ones, with the wrong kind, with too few', () => {
    expect(migrationRefusal('static', 'transit', undefined, f)?.message).toMatch(
      /no key shares in \/s\/init.json/,
    );
    expect(migrationRefusal('static', 'transit', material({ pgp: true }), f)?.message).toMatch(/PGP/);
    expect(migrationRefusal('shamir', 'transit', material(), f)?.message).toMatch(
      /holds recovery keys.*takes unseal keys/,
    );
    expect(migrationRefusal('static', 'transit', material({ keys: ['a', 'b'] }), f)?.message).toMatch(
      /2 key shares, the threshold is 3/,
    );
  });
  it('lets a possible migration through', () => {
    expect(migrationRefusal('static', 'transit', material(), f)).toBeUndefined();
    expect(
      migrationRefusal('shamir', 'static', material({ sealType: 'shamir', keyKind: 'unseal' }), f),
    ).toBeUndefined();
  });
});

describe('node HCL during a migration (golden)', () => {
  const cases: Record<string, { from: SpecInput['seal']; to: SpecInput['seal'] }> = {
    'static-to-transit': { from: { type: 'static' }, to: { type: 'transit' } },
    'shamir-to-transit': { from: { type: 'shamir' }, to: { type: 'transit' } },
    'transit-to-shamir': { from: { type: 'transit' }, to: { type: 'shamir' } },
    'static-to-awskms': {
      from: { type: 'static' },
      to: { type: 'awskms', awskms: { region: 'eu-central-1', kmsKeyId: 'alias/unseal' } },
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: the old seal disabled beside the new one`, () => {
      // 2.6.2: the last OpenBao with awskms built in (2.7 needs a KMS plugin).
      const from = resolveSpec({ version: '2.6.2', seal: c.from }).spec;
      const to = resolveSpec({ version: '2.6.2', seal: c.to }).spec;
      const hcl = renderNodeHcl(to, to.nodes[1]!, { disabledSeal: from.seal });
      const file = join(GOLDEN, `${name}.hcl`);
      if (UPDATE || !existsSync(file)) {
        mkdirSync(GOLDEN, { recursive: true });
        writeFileSync(file, hcl);
      }
      expect(hcl).toBe(readFileSync(file, 'utf8'));
      if (c.from?.type !== 'shamir')
        expect(hcl).toMatch(new RegExp(`seal "${c.from?.type}" \\{\\n  disabled = "true"`));
      expect(hcl.match(/disabled = "true"/g)?.length ?? 0).toBe(c.from?.type === 'shamir' ? 0 : 1);
    });
  }

  it('the final render has no old seal; without a migration the HCL is what up renders', () => {
    const to = resolveSpec({ seal: { type: 'transit' } }).spec;
    expect(renderNodeHcl(to, to.nodes[0]!)).not.toContain('disabled');
  });

  it('a node migrating from static still has the static seal key mounted', () => {
    const from = resolveSpec({}).spec;
    const to = resolveSpec({ seal: { type: 'transit' } }).spec;
    const mig = renderCluster(to, '/state/x', { disabledSeal: from.seal }).containers[0]!;
    const fin = renderCluster(to, '/state/x').containers[0]!;
    expect(mig.mounts.some((m) => m.target.endsWith('/seal.key'))).toBe(true);
    expect(fin.mounts.some((m) => m.target.endsWith('/seal.key'))).toBe(false);
  });
});

describe('snapshot restore after a seal migration', () => {
  it('refuses a snapshot from before the migration and says which seal it needs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vaultctl-unit-sealmig-'));
    try {
      const state = StateDir.forCluster(join(dir, 'state'), 'unit');
      state.writeFileAtomic(
        join(state.root, HISTORY_FILE),
        JSON.stringify([
          {
            from: 'static',
            to: 'transit',
            startedAt: '2026-11-28T03:00:00.000Z',
            finishedAt: '2026-11-28T03:05:00.000Z',
          },
        ]),
      );
      const meta = {
        format: SNAPSHOT_FORMAT,
        file: 'u.snap',
        cluster: 'unit',
        clusterId: 'c',
        flavor: 'openbao',
        version: '2.7.2',
        sealType: 'static',
        createdAt: '2026-11-28T02:00:00.000Z',
        size: 0,
        sha256: '',
        plainSize: 0,
        plainSha256: '',
        encrypted: null,
      } as const;
      const spec = resolveSpec({ name: 'unit', seal: { type: 'transit' } }).spec;
      const why = restoreRefusal(meta, spec, state, { clusterId: 'c', sealType: 'transit' });
      expect(why?.forceable).toBe(false);
      expect(why?.reason).toContain('sealed with the static seal, the target uses transit');
      expect(why?.reason).toContain(
        'this cluster migrated from static to transit on 2026-11-28T03:05:00.000Z, after the snapshot was saved',
      );
      // A snapshot taken after the migration is on the new seal: no history line applies.
      expect(
        restoreRefusal({ ...meta, sealType: 'transit', createdAt: '2026-11-28T04:00:00.000Z' }, spec, state, {
          clusterId: 'c',
          sealType: 'transit',
        }),
      ).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
