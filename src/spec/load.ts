/**
 * Where the spec comes from. Sources, in increasing precedence: built-in defaults, the spec saved
 * by the last `up`/`render` in the state dir, a `vaultctl.yaml` file, `VAULTCTL_*` environment
 * variables, command flags. The merged layers go through `resolveSpec`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { resolveSpec } from './resolve.js';
import { type ClusterSpec, dnsLabel, type SpecInput, type SpecResult } from './schema.js';

/** The layer the state dir remembers for this spec: the user's own choices (see ClusterSpec.input). */
export function specToInput(spec: ClusterSpec): SpecInput {
  return spec.input as SpecInput;
}

type Json = Record<string, unknown>;

function isPlainObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge for spec layers: objects merge, everything else (arrays included) replaces. */
export function mergeLayers(...layers: (Json | undefined)[]): Json {
  const out: Json = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      const prev = out[k];
      out[k] = isPlainObject(prev) && isPlainObject(v) ? mergeLayers(prev, v) : v;
    }
  }
  return out;
}

/**
 * Reads a YAML spec file. A missing or malformed file is a ConfigError naming it; `loadSpec` does
 * not call it when the implicit ./vaultctl.yaml is absent.
 */
export function readSpecFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      'reading the cluster spec',
      [{ path, message: (err as Error).message }],
      'check the --config path',
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      'reading the cluster spec',
      [{ path, message: `not valid YAML: ${yamlProblem(err, text)}` }],
      'fix the YAML syntax; see config/vaultctl.example.yaml',
    );
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) {
    throw new ConfigError('reading the cluster spec', [
      { path, message: 'expected a mapping at the top level' },
    ]);
  }
  return doc;
}

const ENV_MAP: readonly [string, string[], 'string' | 'int'][] = [
  ['VAULTCTL_CLUSTER', ['name'], 'string'],
  ['VAULTCTL_FLAVOR', ['flavor'], 'string'],
  ['VAULTCTL_IMAGE', ['image'], 'string'],
  ['VAULTCTL_SERVER_VERSION', ['version'], 'string'],
  ['VAULTCTL_ENDPOINT_IMAGE', ['endpoint', 'image'], 'string'],
  ['VAULTCTL_SEAL', ['seal', 'type'], 'string'],
  ['VAULTCTL_NODES', ['nodeCount'], 'int'],
  ['VAULTCTL_API_PORT', ['apiPortBase'], 'int'],
  ['VAULTCTL_BIND_ADDRESS', ['bindAddress'], 'string'],
];

/** The spec layer given by VAULTCTL_* environment variables. */
export function specFromEnv(env: NodeJS.ProcessEnv): Json {
  const out: Json = {};
  for (const [name, path, kind] of ENV_MAP) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = kind === 'int' && /^\d+$/.test(raw) ? Number(raw) : raw;
    let cur = out;
    path.slice(0, -1).forEach((k) => {
      cur[k] = (cur[k] as Json | undefined) ?? {};
      cur = cur[k] as Json;
    });
    cur[path[path.length - 1]!] = value;
  }
  return out;
}

export interface SpecSources {
  /** --config path; else VAULTCTL_CONFIG; else ./vaultctl.yaml when present. */
  readonly configPath?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly flags: Json;
  readonly cwd: string;
  /** Reads the spec saved in the state dir of the named cluster, if any. */
  readonly readSaved?: (name: string) => Json | undefined;
}

/** Loads and validates the spec from every source (see the module comment for precedence). */
export function loadSpec(sources: SpecSources, doing?: string): SpecResult & { configFile?: string } {
  const explicit = sources.configPath ?? sources.env.VAULTCTL_CONFIG;
  const implicit = `${sources.cwd}/vaultctl.yaml`;
  const configFile = explicit ?? (existsSync(implicit) ? implicit : undefined);
  const fileLayer = configFile ? readSpecFile(configFile) : undefined;
  const envLayer = specFromEnv(sources.env);
  const upper = mergeLayers(fileLayer, envLayer, sources.flags);
  const name = typeof upper.name === 'string' ? upper.name : 'alphapulse';
  const saved = dnsLabel.test(name) ? sources.readSaved?.(name) : undefined;
  // A saved spec carries a resolved node list; a nodeCount/apiPortBase given now must win over it.
  const savedLayer =
    saved && (upper.nodeCount !== undefined || upper.apiPortBase !== undefined)
      ? { ...saved, nodes: undefined }
      : saved;
  const merged = mergeLayers(savedLayer, upper);
  const result = resolveSpec(merged, doing);
  return configFile ? { ...result, configFile } : result;
}

/**
 * The YAML parser's message on one line: its first line ends in "line L, column C:" before a code
 * frame; the frame's place is told as the offending line itself, so the message is not cut short.
 */
export function yamlProblem(err: unknown, text: string): string {
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
  const at = /line (\d+), column (\d+):?$/.exec(first);
  if (!at) return first.replace(/:$/, '');
  const line = text.split(/\r?\n/)[Number(at[1]) - 1];
  const head = first.replace(/:$/, '');
  return line === undefined ? head : `${head}: ${JSON.stringify(line)}`;
}
