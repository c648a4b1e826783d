/**
 * What a server knows, by flavor and version: which seals are built in, which need a KMS plugin,
 * and which HCL fields exist. The spec rules refuse a seal the server cannot start with, and the
 * HCL template leaves out fields the server would log as unknown.
 *
 * Checked on the real binaries: OpenBao 2.7.2 refuses `seal "awskms"` at start ("unknown wrapper:
 * awskms") unless a `plugin "kms" "awskms"` stanza names an external plugin; 2.6.2 still has it
 * built in (and warns that it moves to a plugin in the next minor release). Both log
 * `disable_mlock` as an unknown field.
 */
import { type Flavor, PINNED, type SealType } from './schema.js';
import { compareVersions } from './version.js';

/** The cloud KMS seals OpenBao 2.7 moved into external KMS plugins (the spec offers awskms). */
export const CLOUD_KMS_SEALS = ['awskms', 'gcpckms', 'azurekeyvault', 'alicloudkms', 'ocikms'] as const;

/** The first OpenBao release without the cloud KMS seals built in. */
export const OPENBAO_KMS_PLUGIN_ONLY = '2.7.0';
/** The first OpenBao release that loads KMS plugins (`plugin "kms" ...`). */
export const OPENBAO_KMS_PLUGINS = '2.6.0';

export interface ServerRules {
  readonly flavor: Flavor;
  /** Undefined when the image's tag names no version: the rules then assume the pinned release. */
  readonly version: string | undefined;
  /** Seals the server has compiled in. */
  readonly builtinSeals: readonly string[];
  /** True when the server loads KMS plugins (`plugin "kms" "<name>"` next to the seal stanza). */
  readonly kmsPlugins: boolean;
  /** HCL fields that are not everywhere. */
  readonly fields: {
    /** Vault with Raft wants it explicit; OpenBao has no mlock and logs the field as unknown. */
    readonly disableMlock: boolean;
    /** OpenBao >= 2.5: standbys serve reads themselves unless told not to. */
    readonly disableStandbyReads: boolean;
  };
}

const atLeast = (v: string | undefined, min: string, unknown: boolean) =>
  v === undefined ? unknown : compareVersions(v, min) >= 0;

/**
 * The rules of a server. An unknown version is judged as the newest known (2.7 and later for
 * OpenBao): the spec then warns instead of refusing, since the image may well have the seal.
 */
export function serverRules(flavor: Flavor, version: string | undefined): ServerRules {
  if (flavor === 'vault') {
    return {
      flavor,
      version,
      builtinSeals: ['shamir', 'transit', ...CLOUD_KMS_SEALS, 'pkcs11'],
      kmsPlugins: false,
      fields: { disableMlock: true, disableStandbyReads: false },
    };
  }
  const cloudBuiltIn = !atLeast(version, OPENBAO_KMS_PLUGIN_ONLY, true);
  return {
    flavor,
    version,
    builtinSeals: ['shamir', 'static', 'transit', 'pkcs11', ...(cloudBuiltIn ? CLOUD_KMS_SEALS : [])],
    kmsPlugins: atLeast(version, OPENBAO_KMS_PLUGINS, true),
    fields: { disableMlock: false, disableStandbyReads: atLeast(version, '2.5.0', true) },
  };
}

export interface SealRuleFinding {
  readonly path: string;
  readonly message: string;
  readonly reads: readonly string[];
  /** A warning is printed and allowed; a problem refuses the spec. */
  readonly severity: 'problem' | 'warning';
}

/** Where the seal's plugin comes from, as far as the rules care. */
export interface SealChoice {
  readonly type: SealType;
  /** `seal.awskms.plugin` is configured. */
  readonly plugin: boolean;
}

/**
 * Whether the server can start with the seal. Refuses a cloud KMS seal that a known version has
 * neither built in nor, without a plugin, can load; warns when the version is unknown.
 */
export function sealFindings(rules: ServerRules, seal: SealChoice): SealRuleFinding[] {
  const out: SealRuleFinding[] = [];
  const reads = ['flavor', 'version', 'image', 'seal.type', 'seal.awskms'];
  const name = rules.flavor === 'openbao' ? 'OpenBao' : 'Vault';
  const cloud = (CLOUD_KMS_SEALS as readonly string[]).includes(seal.type);
  if (seal.plugin && !rules.kmsPlugins) {
    out.push({
      path: 'seal.awskms.plugin',
      message:
        rules.flavor === 'vault'
          ? 'HashiCorp Vault has the awskms seal built in and loads no KMS plugins: remove seal.awskms.plugin'
          : `${name} ${rules.version} loads no KMS plugins (they came with ${OPENBAO_KMS_PLUGINS}): remove seal.awskms.plugin`,
      reads,
      severity: 'problem',
    });
  }
  if (!cloud || seal.plugin || rules.builtinSeals.includes(seal.type)) return out;
  const why = `OpenBao ${OPENBAO_KMS_PLUGIN_ONLY.replace(/\.0$/, '')} moved the cloud KMS seals (${CLOUD_KMS_SEALS.join(', ')}) out of the server into external KMS plugins`;
  const ways = `configure the plugin (seal.awskms.plugin: {binary, sha256}, baked into the image by \`vaultctl image build --kms-plugin PATH\`), or run a release with the seal built in (--server-version ${PINNED.openbaoPrevious}, or an image such as openbao/openbao:${PINNED.openbaoPrevious})`;
  if (rules.version === undefined) {
    out.push({
      path: 'seal.type',
      message: `the server version is unknown (the image's tag names none): if it is OpenBao ${OPENBAO_KMS_PLUGIN_ONLY.replace(/\.0$/, '')} or later, seal "${seal.type}" fails at start (${why}); to be sure, ${ways}`,
      reads,
      severity: 'warning',
    });
  } else {
    out.push({
      path: 'seal.type',
      message: `${name} ${rules.version} has no built-in "${seal.type}" seal and no KMS plugin is configured: ${why}, and the server refuses to start ("unknown wrapper: ${seal.type}"); ${ways}`,
      reads,
      severity: 'problem',
    });
  }
  return out;
}
