/**
 * Measures what one login costs in password hashing: the median of 20 verifications at the
 * production scrypt parameters (N=2^17, r=8, p=1), one at a time.
 *
 *   node --conditions=source --import tsx services/auth/scripts/hash-time.ts [runs]
 */
import { availableParallelism } from 'node:os';
import { PasswordHasher } from '../src/passwords.js';

const runs = Number(process.argv[2] ?? 20);
const hasher = new PasswordHasher();
const password = 'correct horse battery staple';
const stored = await hasher.hash(password);

const timesMs: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  if (!(await hasher.verify(password, stored))) throw new Error('verification failed');
  timesMs.push(performance.now() - start);
}
timesMs.sort((a, b) => a - b);
const mid = Math.floor(runs / 2);
const median = runs % 2 === 1 ? timesMs[mid]! : (timesMs[mid - 1]! + timesMs[mid]!) / 2;
const { N, r, p } = hasher.params;
console.log(
  JSON.stringify({
    params: `scrypt N=${N} r=${r} p=${p}`,
    runs,
    medianMs: Math.round(median),
    minMs: Math.round(timesMs[0]!),
    maxMs: Math.round(timesMs.at(-1)!),
    cpus: availableParallelism(),
    node: process.version,
  }),
);
await hasher.close();
