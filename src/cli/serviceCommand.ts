/**
 * One runner for the long-lived service commands (`bpe oracle`, `bpe keeper`, `bpe verifier`):
 * `--help` from the service's config schema, `--config FILE`, `--<field> VALUE` flags over the
 * environment over the file, a one-line error for a bad field, and a clean stop on SIGINT/SIGTERM.
 */
import { CliError } from './errors.ts';
import { ConfigError, describeConfig, loadConfig, type ConfigOf, type ConfigSchema } from '../services/common/config.ts';

export interface RunningService {
  /** Where its HTTP endpoint listens, if it has one. */
  url?: string;
  stop(): Promise<void>;
}

export interface ServiceCommand<S extends ConfigSchema> {
  name: string;
  summary: string;
  schema: S;
  start(config: ConfigOf<S>): Promise<RunningService>;
}

function parseFlags(args: string[], schema: ConfigSchema): { file?: string; overrides: Record<string, string>; help: boolean } {
  const overrides: Record<string, string> = {};
  let file: string | undefined;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new CliError(`unexpected argument "${arg}"`);
    const [flag, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const value = inline ?? args[++i];
    if (value === undefined) throw new CliError(`--${flag} needs a value`);
    if (flag === 'config') file = value;
    else if (flag in schema) overrides[flag] = value;
    else throw new CliError(`unknown flag --${flag} (see --help)`);
  }
  return { file, overrides, help };
}

export async function runServiceCommand<S extends ConfigSchema>(cmd: ServiceCommand<S>, args: string[]): Promise<void> {
  const { file, overrides, help } = parseFlags(args, cmd.schema);
  if (help) {
    process.stdout.write(
      `usage: bpe ${cmd.name} [--config FILE] [--<field> VALUE ...]\n\n${cmd.summary}\n\n` +
        `Each field is read from, in order of precedence: its --flag, its environment variable, the --config JSON file, the default.\n\n` +
        `${describeConfig(cmd.schema)}\n`,
    );
    return;
  }
  let config: ConfigOf<S>;
  try {
    config = loadConfig(cmd.schema, { file, overrides });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  const running = await cmd.start(config);
  if (running.url) process.stderr.write(`bpe ${cmd.name}: listening on ${running.url}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void running.stop().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
