/** Names of the development KMS (moto's server) that `up --dev-kms` runs beside a cluster. */

/** Its network alias on the cluster network: the nodes' seal endpoint is http://kms:5000. */
export const DEV_KMS_HOST = 'kms';
/** moto_server's port inside its container. */
export const CONTAINER_KMS_PORT = 5000;
/** moto accepts any region; the seal and the key must agree on one. */
export const DEV_KMS_REGION = 'us-east-1';
/** moto checks no signature: any static pair works, and none of it is a secret. */
export const DEV_KMS_CREDENTIALS = { accessKeyId: 'vaultctl-dev', secretAccessKey: 'vaultctl-dev' } as const;

/** The key's alias: known before the key exists, so the HCL is rendered before the KMS runs. */
export function devKmsKeyAlias(cluster: string): string {
  return `alias/vaultctl-${cluster}`;
}

export function devKmsContainerName(cluster: string): string {
  return `${cluster}-kms`;
}
