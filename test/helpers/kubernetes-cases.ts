/**
 * The cluster specs the Kubernetes renderers are tested with (golden files, the real validators):
 * 3 and 5 nodes, each with the static, transit and awskms seals, and Vault with Shamir.
 */
import { fileURLToPath } from 'node:url';
import { PINNED, type SpecInput } from '../../src/spec/schema.js';

export const KUBERNETES_GOLDEN_ROOT = fileURLToPath(
  new URL('../fixtures/golden-kubernetes/', import.meta.url),
);

const transit = { type: 'transit' as const, transit: { address: 'https://transit.example.test:8200' } };
const awskms = {
  type: 'awskms' as const,
  awskms: { region: 'eu-central-1', kmsKeyId: 'alias/vaultctl-unseal' },
};

export const KUBERNETES_CASES: Record<string, SpecInput> = {
  'static-3': {},
  'static-5': { nodeCount: 5 },
  'transit-3': { seal: transit },
  'transit-5': { nodeCount: 5, seal: transit },
  // The last OpenBao with the awskms seal built in (2.7 needs the KMS plugin in the image).
  'awskms-3': { version: PINNED.openbaoPrevious, seal: awskms },
  'awskms-5': { version: PINNED.openbaoPrevious, nodeCount: 5, seal: awskms },
  'vault-shamir-3': {
    flavor: 'vault',
    kubernetes: { namespace: 'secrets', storageClass: 'fast-ssd' },
  },
};
