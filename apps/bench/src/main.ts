/**
 * `npm run bench -- …`: the relay-chat load tester. See USAGE in cli-options.ts and
 * docs/benchmarks.md.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommand, type ServerOptions, USAGE } from './cli-options.js';
import { runBench } from './coordinator.js';
import { runDayBench } from './day/day-bench.js';
import { DAY_USAGE, parseDayCommand, renderDayReport } from './day/day-cli.js';
import { benchDir, type Deployment, startDeployment, type TargetSpec } from './deployment.js';
import { renderProfile, summarizeProfileFile } from './profile-summary.js';
import { writeReports } from './report/report-files.js';
import { renderText } from './report/text-report.js';
import { runSearchBench } from './search/search-bench.js';
import { parseSearchOptions, SEARCH_USAGE } from './search/search-cli.js';
import { renderSearchReport } from './search/search-report.js';
import { UserPool } from './user-pool.js';

const isTty = process.stdout.isTTY === true;
let progressShown = false;

function log(line: string): void {
  if (progressShown) process.stdout.write('\r\x1b[2K');
  progressShown = false;
  process.stdout.write(`${line}\n`);
}

let lastPlainProgress = 0;
function progress(line: string): void {
  if (isTty) {
    process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 200) - 1)}`);
    progressShown = true;
  } else if (Date.now() - lastPlainProgress >= 5000) {
    lastPlainProgress = Date.now();
    process.stdout.write(`${line}\n`);
  }
}

async function withDeployment<T>(
  target: TargetSpec,
  server: ServerOptions,
  use: (deployment: Deployment) => Promise<T>,
): Promise<T> {
  log(`starting ${target.kind === 'url' ? 'nothing (existing deployment)' : target.kind}…`);
  const deployment = await startDeployment(target, {
    ...(server.usersDatabaseUrl ? { usersDatabaseUrl: server.usersDatabaseUrl } : {}),
    serverEnv: server.serverEnv,
    log,
  });
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    log('\ninterrupted: stopping…');
    deployment.stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await use(deployment);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await deployment.stop();
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'day') {
    const rest = process.argv.slice(3);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(DAY_USAGE);
      return;
    }
    const day = parseDayCommand(rest);
    const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
    const result = await withDeployment(
      day.target,
      { serverEnv: {}, profile: false, usersDatabaseUrl: day.usersDatabaseUrl },
      (deployment) => runDayBench(deployment, day.options, { command, log, progress }),
    );
    const outDir = benchDir('day');
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-day.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    log(`\n${renderDayReport(result)}\nresults: ${file}`);
    return;
  }
  if (process.argv[2] === 'search') {
    const rest = process.argv.slice(3);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(SEARCH_USAGE);
      return;
    }
    const result = await runSearchBench(parseSearchOptions(process.argv.slice(3), log));
    log(`\n${renderSearchReport(result, `npm run bench -- ${process.argv.slice(2).join(' ')}`)}`);
    return;
  }
  const command = parseCommand(process.argv.slice(2));
  switch (command.kind) {
    case 'help':
      process.stdout.write(USAGE);
      return;
    case 'profile':
      process.stdout.write(`${renderProfile(summarizeProfileFile(command.file))}\n`);
      return;
    case 'provision':
      await withDeployment(command.target, command.server, async (deployment) => {
        if (deployment.kind !== 'relay-chat') throw new Error('provision applies to relay-chat targets');
        const pool = new UserPool({
          key: deployment.usersKey!,
          authUrl: deployment.apiUrl!,
          // Targets the bench spawned: seed straight into their auth database.
          ...(deployment.usersDatabaseUrl ? { seedDatabaseUrl: deployment.usersDatabaseUrl } : {}),
          log,
        });
        const started = Date.now();
        await pool.provision(command.users);
        log(
          `${pool.provisioned} bench users in ${pool.path} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
        );
      });
      return;
    case 'run': {
      const outDir = command.output.dir ?? benchDir('results');
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      const slug =
        command.target.kind === 'baseline' ? `baseline-${command.target.baseline}` : command.target.kind;
      const name = command.output.name ?? `${stamp}-${command.options.scenario}-${slug}`;
      const profileFile = command.server.profile ? join(outDir, `${name}.cpuprofile`) : undefined;
      if (profileFile) mkdirSync(outDir, { recursive: true });
      const result = await withDeployment(command.target, command.server, (deployment) =>
        runBench({
          deployment,
          options: command.options,
          command: `npm run bench -- ${process.argv.slice(2).join(' ')}`,
          log,
          progress,
          ...(profileFile ? { profileFile } : {}),
        }),
      );
      log(renderText(result));
      const files = writeReports(result, outDir, name);
      log(`\nresults: ${files.json}\nreport:  ${files.html}`);
      if (profileFile && existsSync(profileFile)) {
        log(
          `\nCPU profile ${profileFile} (measured phases):\n${renderProfile(summarizeProfileFile(profileFile, 20))}`,
        );
      }
      return;
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench failed: ${messageChain(err)}`);
    process.exit(1);
  },
);

/** An error's message and its causes' (a failed migration's cause is the database's error). */
function messageChain(err: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = err; e !== undefined && messages.length < 5; e = (e as { cause?: unknown }).cause) {
    messages.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return messages.join(': ');
}
