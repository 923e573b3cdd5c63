/**
 * Local stand-ins for the upstream images docker-compose.yml and the Dockerfiles name, for a
 * machine where no image registry can be reached:
 *
 * - a Debian bookworm base: `debootstrap --variant=minbase` from the Debian mirror apt is
 *   configured with, turned into an image by `docker import`;
 * - node (for node:20-bookworm-slim): the base plus this machine's own Node.js and npm;
 * - postgres, redis, nginx (for postgres:16-alpine, redis:7-alpine, nginx:1.28-alpine): the base
 *   plus Debian's packages, with the conventions of the official images that the compose file
 *   and Dockerfile.web rely on (tests/compose/images/<name>/).
 *
 * MongoDB has no Debian package: there is no stand-in for mongo:8.0, and the compose test runs
 * the PostgreSQL-history variant. Each image is tagged with a hash of its inputs and built only
 * when no image of that tag exists. Builds run under `nice -n 19`.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, seconds } from './exec.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const IMAGES_DIR = join(HERE, 'images');
/** Bump when the way the base is made changes (its inputs hash changes with it). */
const BASE_RECIPE = 'debootstrap-minbase-bookworm-v1';
const SUITE = 'bookworm';
const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The compose variables / build arguments that name the upstream images. */
export interface StandIns {
  NODE_IMAGE: string;
  NGINX_IMAGE: string;
  POSTGRES_IMAGE: string;
  REDIS_IMAGE: string;
}

export interface ImageFigure {
  image: string;
  built: boolean;
  ms: number;
}

const docker = (args: string[], log: string, timeoutMs = 60_000, allowFailure = false) =>
  run('docker', args, { timeoutMs, log, allowFailure, env: { ...process.env, DOCKER_BUILDKIT: '0' } });

function sha(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('hex').slice(0, 16);
}

function hashTree(dir: string): string {
  const parts: string[] = [];
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const path = join(dir, name);
    if (statSync(path).isFile()) parts.push(name, sha(readFileSync(path)));
  }
  return sha(...parts);
}

export async function imageExists(tag: string, log: string): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', tag], log, 30_000, true)).code === 0;
}

/** Bytes of an image as `docker images` counts them (its layers, shared ones included). */
export async function imageSize(tag: string, log: string): Promise<number> {
  return Number((await docker(['image', 'inspect', '--format', '{{.Size}}', tag], log)).stdout.trim());
}

/** Removes the other tags of an image's repository: stand-ins of inputs that changed since. */
async function pruneOlderTags(tag: string, log: string): Promise<void> {
  const [repo] = tag.split(':');
  const tags = (await docker(['images', repo ?? '', '--format', '{{.Repository}}:{{.Tag}}'], log)).stdout
    .split('\n')
    .filter((t) => t && t !== tag);
  for (const old of tags) await docker(['image', 'rm', old], log, 60_000, true);
}

/**
 * The Debian sources apt is configured with (deb822 or one-line), reduced to Debian's own
 * bookworm suites: they go into the base image, and their first mirror feeds debootstrap.
 */
export function debianSources(): { mirror: string; file: string; content: string } {
  const deb822 = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(deb822)) {
    const stanzas = readFileSync(deb822, 'utf8')
      .split(/\n\s*\n/)
      .map((s) => s.trim())
      .filter((s) => /^Suites:.*\bbookworm\b/m.test(s) && /^Types:.*\bdeb\b/m.test(s));
    const mirror = stanzas
      .map((s) => /^URIs:\s*(\S+)/m.exec(s)?.[1])
      .find((uri) => uri && /\/debian\/?$/.test(uri));
    if (mirror && stanzas.length > 0) {
      return { mirror, file: 'sources.list.d/debian.sources', content: `${stanzas.join('\n\n')}\n` };
    }
  }
  const lines = existsSync('/etc/apt/sources.list')
    ? readFileSync('/etc/apt/sources.list', 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^deb\s+(\[[^\]]*\]\s+)?\S+\s+bookworm\S*\s/.test(l))
    : [];
  const mirror = lines
    .map((l) => /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(l)?.[1])
    .find((uri) => uri && /\/debian\/?$/.test(uri));
  if (mirror) return { mirror, file: 'sources.list', content: `${lines.join('\n')}\n` };
  return { mirror: DEFAULT_MIRROR, file: 'sources.list', content: `deb ${DEFAULT_MIRROR} ${SUITE} main\n` };
}

/** The debootstrap base, imported into Docker; built only when its tag is missing. */
export async function ensureBase(log: string): Promise<ImageFigure> {
  const sources = debianSources();
  const tag = `relay-chat-standin/debian:${SUITE}-${sha(BASE_RECIPE, sources.mirror, sources.file, sources.content)}`;
  const started = Date.now();
  if (await imageExists(tag, log)) return { image: tag, built: false, ms: Date.now() - started };
  const work = mkdtempSync('/var/tmp/relay-chat-base-');
  const rootfs = join(work, 'rootfs');
  try {
    await run('debootstrap', ['--variant=minbase', SUITE, rootfs, sources.mirror], {
      timeoutMs: 20 * 60_000,
      log,
      nice: true,
    });
    rmSync(join(rootfs, 'etc/apt/sources.list'), { force: true });
    writeFileSync(join(rootfs, 'etc/apt', sources.file), sources.content);
    // As in Debian's own container images: package scripts never start services.
    writeFileSync(join(rootfs, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
    chmodSync(join(rootfs, 'usr/sbin/policy-rc.d'), 0o755);
    for (const dir of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const name of readdirSync(join(rootfs, dir))) {
        if (name !== 'partial' && name !== 'lock')
          rmSync(join(rootfs, dir, name), { recursive: true, force: true });
      }
    }
    await run(
      'sh',
      [
        '-c',
        `tar --numeric-owner -C "$1" -c . | docker import --change 'ENV ${PATH_ENV}' --change 'CMD ["bash"]' - "$2"`,
        'import',
        rootfs,
        tag,
      ],
      { timeoutMs: 10 * 60_000, log, nice: true },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  await pruneOlderTags(tag, log);
  return { image: tag, built: true, ms: Date.now() - started };
}

/** Files of this machine's Node.js that the node stand-in carries, and their hash. */
function nodeInputs(): { files: Record<string, string>; hash: string } {
  const node = realpathSync(process.execPath);
  const prefix = dirname(dirname(node));
  const npm = [
    join(prefix, 'lib/node_modules/npm'),
    '/usr/lib/node_modules/npm',
    '/usr/local/lib/node_modules/npm',
  ].find((dir) => existsSync(join(dir, 'package.json')));
  const headers = [join(prefix, 'include/node'), '/usr/include/node', '/usr/local/include/node'].find((dir) =>
    existsSync(join(dir, 'node_version.h')),
  );
  const ca = ['/etc/ssl/certs/ca-certificates.crt'].find((file) => existsSync(file));
  if (!npm || !headers || !ca) {
    throw new Error(`node stand-in: npm (${npm}), headers (${headers}) or CA bundle (${ca}) not found`);
  }
  const npmVersion = (JSON.parse(readFileSync(join(npm, 'package.json'), 'utf8')) as { version: string })
    .version;
  return {
    files: { node, npm, 'include/node': headers, 'ca-certificates.crt': ca },
    hash: sha(
      readFileSync(node),
      npmVersion,
      readFileSync(join(headers, 'node_version.h')),
      readFileSync(ca),
    ),
  };
}

const STAND_INS: { variable: keyof StandIns; name: string; repo: string }[] = [
  { variable: 'NODE_IMAGE', name: 'node', repo: 'relay-chat-standin/node' },
  { variable: 'POSTGRES_IMAGE', name: 'postgres', repo: 'relay-chat-standin/postgres' },
  { variable: 'REDIS_IMAGE', name: 'redis', repo: 'relay-chat-standin/redis' },
  { variable: 'NGINX_IMAGE', name: 'nginx', repo: 'relay-chat-standin/nginx' },
];

/** Builds (or finds) the base and every stand-in; returns the compose variables naming them. */
export async function ensureStandIns(log: string): Promise<{ images: StandIns; figures: ImageFigure[] }> {
  const base = await ensureBase(log);
  const figures: ImageFigure[] = [base];
  const images: Partial<StandIns> = {};
  for (const standIn of STAND_INS) {
    const dir = join(IMAGES_DIR, standIn.name);
    const extra = standIn.name === 'node' ? nodeInputs() : undefined;
    const tag = `${standIn.repo}:${sha(base.image, hashTree(dir), extra?.hash ?? '')}`;
    images[standIn.variable] = tag;
    const started = Date.now();
    if (await imageExists(tag, log)) {
      figures.push({ image: tag, built: false, ms: Date.now() - started });
      continue;
    }
    const context = mkdtempSync('/var/tmp/relay-chat-standin-');
    try {
      await run('cp', ['-a', `${dir}/.`, context], { timeoutMs: 60_000, log });
      for (const [target, source] of Object.entries(extra?.files ?? {})) {
        await run('mkdir', ['-p', dirname(join(context, target))], { timeoutMs: 10_000, log });
        await run('cp', ['-a', source, join(context, target)], { timeoutMs: 120_000, log });
      }
      await run('docker', ['build', '--build-arg', `BASE=${base.image}`, '-t', tag, context], {
        timeoutMs: 20 * 60_000,
        log,
        nice: true,
        env: { ...process.env, DOCKER_BUILDKIT: '0' },
      });
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
    await pruneOlderTags(tag, log);
    figures.push({ image: tag, built: true, ms: Date.now() - started });
  }
  return { images: images as StandIns, figures };
}

export function describeFigures(figures: ImageFigure[]): string {
  return figures.map((f) => `${f.image}: ${f.built ? `built in ${seconds(f.ms)}` : 'cached'}`).join('\n');
}
