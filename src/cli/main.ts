// `bpe` command-line entry: dispatches to one module per subcommand, loaded on demand
// so that `bpe sim` never pays for chain code and vice versa.
import { CliError } from './errors.ts';

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<void> }> };

const commands: Record<string, Command> = {
  devnet: { summary: 'a live agent economy on an embedded chain with the dashboard (npm start)', load: () => import('./commands/devnet.ts') },
  demo: { summary: 'a 10-step scripted story on a local chain: routing, buffer, drain, attestations, slashing', load: () => import('./commands/demo.ts') },
  deploy: { summary: 'deploy BPE against an existing Superfluid (base-sepolia, base, or a host address)', load: () => import('./commands/deploy.ts') },
  oracle: { summary: 'run the capacity oracle: signed attestations in over HTTP, checked, stored, relayed (port 8645)', load: () => import('./commands/oracle.ts') },
  keeper: { summary: 'run the keeper: every upkeep of a deployment when it is due (port 8646)', load: () => import('./commands/keeper.ts') },
  verifier: { summary: 'run the verifier: completion receipts in over HTTP, counted on chain, slashes reported (port 8647)', load: () => import('./commands/verifier.ts') },
  sim: { summary: 'run the simulator experiments (e1 e2 e3 e4 e5 e7 e8 all, sweep)', load: () => import('./commands/sim.ts') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `usage: bpe <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  try {
    if (!command) throw new CliError(`unknown command "${name}" (try: ${Object.keys(commands).join(', ')})`);
    await (await command.load()).run(rest);
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`bpe ${name}: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
