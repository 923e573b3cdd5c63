/**
 * One compose project of the repository's docker-compose.yml (+ docker-compose.postgres.yml),
 * driven through docker-compose 1.29 as it exists here: the files rendered by compose-v1.ts,
 * `--compatibility` (deploy.replicas becomes the scale), the legacy builder, the stand-in
 * images through the variables the compose file defaults to upstream names. Its own project
 * name, image tag and free ports on 127.0.0.1, so it never touches a real deployment.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderForComposeV1 } from './compose-v1.js';
import { type RunOptions, type RunResult, run } from './exec.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export interface ContainerState {
  id: string;
  name: string;
  service: string;
  status: string;
  health: string | undefined;
  restartCount: number;
}

export interface StackOptions {
  project: string;
  files: string[];
  /** Variables for compose's interpolation (images, ports, password…). */
  env: Record<string, string>;
  workDir: string;
  log: string;
  /** Containers expected per service when the stack is up. */
  expected: Record<string, number>;
}

export class ComposeStack {
  readonly file: string;
  private readonly envFile: string;
  private readonly anonymousVolumes = new Set<string>();

  constructor(readonly options: StackOptions) {
    mkdirSync(options.workDir, { recursive: true });
    this.file = join(options.workDir, 'docker-compose.v1.yml');
    writeFileSync(this.file, renderForComposeV1(options.files.map((f) => join(REPO_ROOT, f))).yaml);
    // An empty env file: a developer's .env in the repository must not leak into the test.
    this.envFile = join(options.workDir, 'empty.env');
    writeFileSync(this.envFile, '');
  }

  /** `docker-compose …` for this project. */
  compose(args: string[], timeoutMs: number, extra: Partial<RunOptions> = {}): Promise<RunResult> {
    return run(
      'docker-compose',
      [
        '--compatibility',
        '--ansi',
        'never',
        '-p',
        this.options.project,
        '--project-directory',
        REPO_ROOT,
        '--env-file',
        this.envFile,
        '-f',
        this.file,
        ...args,
      ],
      {
        timeoutMs,
        log: this.options.log,
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          ...this.options.env,
          // docker-py's build API: the daemon's legacy builder (no BuildKit, no buildx here).
          COMPOSE_DOCKER_CLI_BUILD: '0',
          DOCKER_BUILDKIT: '0',
          COMPOSE_HTTP_TIMEOUT: '300',
        },
        ...extra,
      },
    );
  }

  docker(args: string[], timeoutMs = 60_000, allowFailure = false): Promise<RunResult> {
    return run('docker', args, { timeoutMs, log: this.options.log, allowFailure });
  }

  build(timeoutMs: number): Promise<RunResult> {
    return this.compose(['build'], timeoutMs, { nice: true });
  }

  up(timeoutMs: number): Promise<RunResult> {
    return this.compose(['up', '-d', '--no-build'], timeoutMs);
  }

  /**
   * `down` keeps the named volumes unless `volumes`. Anonymous volumes (an image's VOLUME no
   * compose volume covers, such as redis's /data) outlive a plain `down`, and `down -v` removes
   * only those of the containers it removes: they are noted here and removed with `volumes`.
   */
  async down(timeoutMs: number, { volumes = false } = {}): Promise<RunResult> {
    await this.noteAnonymousVolumes();
    const result = await this.compose(
      ['down', '--remove-orphans', '--timeout', '20', ...(volumes ? ['--volumes'] : [])],
      timeoutMs,
    );
    if (volumes) {
      for (const volume of this.anonymousVolumes) {
        if ((await this.docker(['volume', 'inspect', volume], 30_000, true)).code !== 0) continue;
        await this.docker(['volume', 'rm', volume]);
      }
    }
    return result;
  }

  private async noteAnonymousVolumes(): Promise<void> {
    const ids = (await this.containers()).map((c) => c.id);
    if (ids.length === 0) return;
    const format = '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}';
    const names = (await this.docker(['inspect', '--format', format, ...ids])).stdout.split(/\s+/);
    const named = new Set(
      (
        await this.docker([
          'volume',
          'ls',
          '-q',
          '--filter',
          `label=com.docker.compose.project=${this.options.project}`,
        ])
      ).stdout
        .split('\n')
        .filter(Boolean),
    );
    for (const name of names) if (name && !named.has(name)) this.anonymousVolumes.add(name);
  }

  /** Every container of the project (running or not), with its state. */
  async containers(service?: string): Promise<ContainerState[]> {
    const filters = ['--filter', `label=com.docker.compose.project=${this.options.project}`];
    if (service) filters.push('--filter', `label=com.docker.compose.service=${service}`);
    const ids = (await this.docker(['ps', '-a', '-q', ...filters])).stdout.split('\n').filter(Boolean);
    if (ids.length === 0) return [];
    const format =
      '{{.Id}}|{{.Name}}|{{index .Config.Labels "com.docker.compose.service"}}|{{.State.Status}}|' +
      '{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.RestartCount}}';
    const out = await this.docker(['inspect', '--format', format, ...ids]);
    return out.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [id = '', name = '', svc = '', status = '', health = '', restarts = '0'] = line.split('|');
        return {
          id,
          name: name.replace(/^\//, ''),
          service: svc,
          status,
          health: health || undefined,
          restartCount: Number(restarts),
        };
      });
  }

  /** Waits until every expected container runs and every healthcheck says healthy. */
  async waitHealthy(timeoutMs: number): Promise<ContainerState[]> {
    const deadline = Date.now() + timeoutMs;
    let last: ContainerState[] = [];
    for (;;) {
      last = await this.containers();
      const ready = Object.entries(this.options.expected).every(([service, count]) => {
        const healthy = last.filter(
          (c) => c.service === service && c.status === 'running' && (c.health ?? 'healthy') === 'healthy',
        );
        return healthy.length >= count;
      });
      if (ready) return last;
      if (Date.now() > deadline) {
        const states = last.map((c) => `${c.name}: ${c.status}${c.health ? ` (${c.health})` : ''}`);
        throw new Error(`stack not healthy within ${timeoutMs} ms:\n${states.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  /** The host port a container publishes its port on (127.0.0.1 only, as configured). */
  async hostPort(containerId: string, port: number): Promise<number> {
    const out = (await this.docker(['port', containerId, `${port}/tcp`])).stdout.trim();
    const match = /^127\.0\.0\.1:(\d+)$/m.exec(out);
    if (!match) throw new Error(`container ${containerId} publishes ${port} as ${out || 'nothing'}`);
    return Number(match[1]);
  }

  /** The last lines of every service's log, for a failure report. */
  async logs(): Promise<string> {
    const out = await this.compose(['logs', '--no-color', '--tail', '200'], 60_000, { allowFailure: true });
    return out.stdout + out.stderr;
  }

  /** Whatever of the project is left: containers, networks, named and anonymous volumes. */
  async leftovers(): Promise<{ containers: string[]; networks: string[]; volumes: string[] }> {
    const label = `label=com.docker.compose.project=${this.options.project}`;
    const list = async (args: string[]) => (await this.docker(args)).stdout.split('\n').filter(Boolean);
    const volumes = await list(['volume', 'ls', '-q']);
    return {
      containers: await list(['ps', '-a', '-q', '--filter', label]),
      networks: await list(['network', 'ls', '-q', '--filter', label]),
      volumes: [
        ...(await list(['volume', 'ls', '-q', '--filter', label])),
        ...volumes.filter((v) => this.anonymousVolumes.has(v)),
      ],
    };
  }
}
