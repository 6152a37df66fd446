/**
 * Service configuration from three layers, later wins: defaults < a JSON config file < the
 * environment < explicit overrides (CLI flags). Every field is validated on its own and a bad one
 * is reported by name, with where it came from, so an operator can fix it in one read.
 */
import { readFileSync } from 'node:fs';
import { isAddress, isHex, type Address, type Hex } from 'viem';

export type FieldKind = 'string' | 'int' | 'number' | 'boolean' | 'url' | 'address' | 'privateKey' | 'path';

interface FieldValue {
  string: string;
  int: number;
  number: number;
  boolean: boolean;
  url: string;
  address: Address;
  privateKey: Hex;
  path: string;
}

export interface FieldSpec<K extends FieldKind = FieldKind> {
  kind: K;
  /** What the field does, for `--help`. */
  doc: string;
  /** Environment variable that sets it. */
  env: string;
  default?: FieldValue[K];
  min?: number;
  max?: number;
}

export type ConfigSchema = Record<string, FieldSpec>;
export type ConfigOf<S extends ConfigSchema> = {
  [N in keyof S]: S[N] extends FieldSpec<infer K> ? (S[N]['default'] extends undefined ? FieldValue[K] | undefined : FieldValue[K]) : never;
};

/** A configuration field is missing or invalid; `field` and `source` say which and where. */
export class ConfigError extends Error {
  constructor(readonly field: string, readonly source: string, reason: string) {
    super(`config field "${field}" (${source}): ${reason}`);
    this.name = 'ConfigError';
  }
}

export function field<K extends FieldKind>(kind: K, env: string, doc: string, extra: Omit<FieldSpec<K>, 'kind' | 'env' | 'doc'> = {}): FieldSpec<K> {
  return { kind, env, doc, ...extra };
}

function parseField(name: string, spec: FieldSpec, raw: unknown, source: string): unknown {
  const fail = (reason: string): never => {
    throw new ConfigError(name, source, `${reason}, got ${JSON.stringify(raw)}`);
  };
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (spec.kind) {
    case 'string':
    case 'path':
      if (typeof text !== 'string' || text === '') fail('must be a non-empty string');
      return text;
    case 'int':
    case 'number': {
      const n = typeof text === 'number' ? text : typeof text === 'string' && text !== '' ? Number(text) : NaN;
      if (!Number.isFinite(n)) fail('must be a number');
      if (spec.kind === 'int' && !Number.isSafeInteger(n)) fail('must be an integer');
      if (spec.min !== undefined && n < spec.min) fail(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`must be at most ${spec.max}`);
      return n;
    }
    case 'boolean':
      if (text === true || text === 'true' || text === '1') return true;
      if (text === false || text === 'false' || text === '0') return false;
      return fail('must be true or false');
    case 'url':
      if (typeof text !== 'string' || !URL.canParse(text)) fail('must be a URL such as http://127.0.0.1:8545');
      return text;
    case 'address':
      if (typeof text !== 'string' || !isAddress(text, { strict: false })) fail('must be a 0x-prefixed 20-byte address');
      return text;
    case 'privateKey':
      // Never echo a key back, even a malformed one.
      if (typeof text !== 'string' || !isHex(text) || text.length !== 66) {
        throw new ConfigError(name, source, 'must be a 0x-prefixed 32-byte hex private key (value not shown)');
      }
      return text;
  }
}

export interface LoadConfigOptions {
  /** JSON file with some of the fields (by field name). Unknown keys are an error: a typo must not pass silently. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Record<string, unknown>;
}

export function loadConfig<S extends ConfigSchema>(schema: S, opts: LoadConfigOptions = {}): ConfigOf<S> {
  let fromFile: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError('config', opts.file, `cannot read the file: ${(err as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError('config', opts.file, `not valid JSON: ${(err as Error).message}`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) {
      throw new ConfigError('config', opts.file, 'must be a JSON object');
    }
    for (const key of Object.keys(fromFile)) {
      if (!(key in schema)) throw new ConfigError(key, opts.file, `unknown field (known: ${Object.keys(schema).join(', ')})`);
    }
  }
  const env = opts.env ?? process.env;
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const override = opts.overrides?.[name];
    const layers: [unknown, string][] = [
      [override, 'command line'],
      [env[spec.env], `environment ${spec.env}`],
      [fromFile[name], `file ${opts.file}`],
    ];
    const hit = layers.find(([v]) => v !== undefined);
    out[name] = hit ? parseField(name, spec, hit[0], hit[1]) : spec.default;
  }
  return out as ConfigOf<S>;
}

/** `--help` text for a schema: one line per field with its env variable and default. */
export function describeConfig(schema: ConfigSchema): string {
  return Object.entries(schema)
    .map(([name, s]) => {
      const dflt = s.default === undefined ? '' : ` (default ${String(s.default)})`;
      return `  ${name.padEnd(20)} ${s.env.padEnd(28)} ${s.doc}${dflt}`;
    })
    .join('\n');
}
