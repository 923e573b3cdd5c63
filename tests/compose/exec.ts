/**
 * Running the commands of the compose test: every command has a time limit (its process group
 * is killed when it runs out), its output goes to the run's log file, and a failure throws
 * with the command line and the last lines of what it printed.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

export interface RunOptions {
  /** The command's process group is killed (SIGKILL) after this long. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Appends the command line and everything it prints to this file. */
  log?: string;
  /** Resolve with the exit code instead of throwing when it is not 0. */
  allowFailure?: boolean;
  /** Run under `nice -n 19` (builds: other work on this machine is timing-sensitive). */
  nice?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export class CommandFailed extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
    reason: string,
  ) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-30).join('\n');
    super(`${command}: ${reason}\n${tail}`);
  }
}

/** Runs a command to completion (or to its time limit). */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const [bin, argv] = options.nice ? ['nice', ['-n', '19', command, ...args]] : [command, [...args]];
  const line = [bin, ...argv].join(' ');
  const started = Date.now();
  if (options.log) appendFileSync(options.log, `\n$ ${line}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const keep = (text: string, chunk: Buffer) => (text + chunk.toString()).slice(-1_000_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout = keep(stdout, chunk);
      if (options.log) appendFileSync(options.log, chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = keep(stderr, chunk);
      if (options.log) appendFileSync(options.log, chunk);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${line}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { code: code ?? -1, stdout, stderr, ms: Date.now() - started };
      if (options.log) appendFileSync(options.log, `# exit ${result.code} after ${result.ms} ms\n`);
      if (timedOut) reject(new CommandFailed(line, result, `no answer within ${options.timeoutMs} ms`));
      else if (result.code !== 0 && !options.allowFailure)
        reject(new CommandFailed(line, result, `exit code ${result.code}`));
      else resolve(result);
    });
  });
}

/** Whether a program is on the PATH. */
export async function commandExists(name: string): Promise<boolean> {
  const result = await run('sh', ['-c', `command -v ${name}`], { timeoutMs: 5_000, allowFailure: true });
  return result.code === 0;
}

/** Seconds with one decimal, for the figures the test prints. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
