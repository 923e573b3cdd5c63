/**
 * An earlier revision of this repository, checked out as a git worktree in a temp directory,
 * runnable from source like this tree: its node_modules is a directory of links to this
 * tree's installed packages, except the workspace packages (`@relay-chat/*`), which link to
 * the worktree's own sources — so the server started there is entirely that revision's code
 * on the same dependencies.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './machine.js';

export interface PreviousRevision {
  /** The revision as given and as an abbreviated commit. */
  rev: string;
  commit: string;
  /** Root of the worktree. */
  dir: string;
  /** Removes the worktree and its temp directory. */
  remove(): void;
}

function git(args: string[], cwd = REPO_ROOT): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${(r.stderr || String(r.error)).trim()}`);
  return r.stdout.trim();
}

/** The abbreviated commit of `rev` in this repository (throws when it does not exist). */
export function resolveRevision(rev: string, cwd = REPO_ROOT): string {
  return git(['rev-parse', '--short', `${rev}^{commit}`], cwd);
}

/** This tree's HEAD, with `+changes` when the work tree differs from it. */
export function currentRevision(cwd = REPO_ROOT): string {
  const head = git(['rev-parse', '--short', 'HEAD'], cwd);
  const dirty = git(['status', '--porcelain', '--untracked-files=no'], cwd) !== '';
  return dirty ? `${head}+changes` : head;
}

/**
 * Links `target`'s node_modules entries into `linkDir`: third-party packages by absolute path,
 * `@relay-chat/*` by their relative links (which then resolve inside the worktree).
 */
export function linkNodeModules(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    const source = join(from, entry);
    const dest = join(to, entry);
    if (existsSync(dest) || isLink(dest)) continue;
    if (entry === '@relay-chat') {
      mkdirSync(dest, { recursive: true });
      for (const pkg of readdirSync(source)) {
        const link = join(source, pkg);
        if (isLink(link)) symlinkSync(readlinkSync(link), join(dest, pkg));
      }
      continue;
    }
    symlinkSync(source, dest);
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Checks `rev` out into a temp directory and makes it runnable (see the file comment). */
export function checkOutRevision(rev: string, log: (line: string) => void = () => {}): PreviousRevision {
  const commit = resolveRevision(rev);
  const base = mkdtempSync(join(tmpdir(), 'relay-bench-previous-'));
  const dir = join(base, 'tree');
  log(`checking out ${rev} (${commit}) into ${dir}…`);
  git(['worktree', 'add', '--detach', dir, commit]);
  const remove = () => {
    spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: REPO_ROOT, timeout: 60_000 });
    rmSync(base, { recursive: true, force: true });
    spawnSync('git', ['worktree', 'prune'], { cwd: REPO_ROOT, timeout: 60_000 });
  };
  try {
    linkNodeModules(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
    // Workspace packages with their own node_modules (versions that differ from the root's).
    for (const group of ['apps', 'packages', 'services']) {
      const groupDir = join(REPO_ROOT, group);
      if (!existsSync(groupDir)) continue;
      for (const pkg of readdirSync(groupDir)) {
        const nested = join(groupDir, pkg, 'node_modules');
        const dest = join(dir, group, pkg, 'node_modules');
        if (existsSync(nested) && existsSync(dirname(dest)) && !existsSync(dest))
          linkNodeModules(nested, dest);
      }
    }
  } catch (err) {
    remove();
    throw err;
  }
  return { rev, commit, dir, remove };
}
