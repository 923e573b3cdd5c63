/**
 * µs per access-token verification: this package's verifier (node:crypto, via fast-jwt) against
 * jose's jwtVerify (WebCrypto) with the options the package used before, in one run, interleaved.
 * Both run with the cache of verified tokens off. Sequential: one verification at a time, as one
 * connect does. Concurrent: 64 at a time, as a reconnect storm does (WebCrypto may use the
 * thread pool), with the process's CPU time per verification beside the wall time.
 *
 *   node --conditions=source --import tsx packages/tokens/bench/verify-speed.ts [rounds] [perRound]
 */
import { generateKeyPairSync } from 'node:crypto';
import { ACCESS_TOKEN_ALG, ACCESS_TOKEN_TYP, createAccessTokenVerifier } from '@relay-chat/tokens';
import { createLocalJWKSet, exportJWK, jwtVerify, SignJWT } from 'jose';

const rounds = Number(process.argv[2] ?? 7);
const perRound = Number(process.argv[3] ?? 2000);

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: ACCESS_TOKEN_ALG }] };
const nowSec = Math.floor(Date.now() / 1000);
const tokens = await Promise.all(
  Array.from({ length: 64 }, (_, i) =>
    new SignJWT({ username: `user${i}`, sid: `family-${i}` })
      .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: 'k1' })
      .setIssuer('relay-chat')
      .setAudience('relay-chat')
      .setSubject(`u${i}`)
      .setIssuedAt(nowSec)
      .setExpirationTime(nowSec + 3600)
      .sign(privateKey),
  ),
);

const ours = createAccessTokenVerifier({
  keys: jwks,
  issuer: 'relay-chat',
  audience: 'relay-chat',
  cacheSize: 0,
});
const localSet = createLocalJWKSet(jwks);
const joseOptions = {
  algorithms: [ACCESS_TOKEN_ALG],
  issuer: 'relay-chat',
  audience: 'relay-chat',
  typ: ACCESS_TOKEN_TYP,
  clockTolerance: 5,
  requiredClaims: ['sub', 'exp', 'iat'],
};
const jose = (token: string) => jwtVerify(token, localSet, joseOptions);

type Verify = (token: string) => Promise<unknown>;
const contenders: [string, Verify][] = [
  ['jose (WebCrypto)', jose],
  ['node:crypto', ours],
];

async function sequential(verify: Verify): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < perRound; i++) await verify(tokens[i % tokens.length]!);
  return Number(process.hrtime.bigint() - start) / 1000 / perRound;
}

async function concurrent(verify: Verify): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let done = 0; done < perRound; done += tokens.length) await Promise.all(tokens.map(verify));
  const wall = Number(process.hrtime.bigint() - start) / 1000 / perRound;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / perRound };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map(
  contenders.map(([name]) => [name, { seq: [] as number[], wall: [] as number[], cpu: [] as number[] }]),
);
// Warm-up, then rounds whose order alternates so drift and other load hit both alike.
for (const [, verify] of contenders) await sequential(verify);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? contenders : [...contenders].reverse();
  for (const [name, verify] of order) {
    const r = results.get(name)!;
    r.seq.push(await sequential(verify));
    const c = await concurrent(verify);
    r.wall.push(c.wall);
    r.cpu.push(c.cpu);
  }
}
const base = results.get(contenders[0]![0])!;
console.log(`${rounds} interleaved rounds × ${perRound} verifications; medians (all rounds in brackets)`);
for (const [name, r] of results) {
  const fmt = (xs: number[]) => `${median(xs).toFixed(1)} µs [${xs.map((x) => x.toFixed(0)).join(' ')}]`;
  console.log(`${name}`);
  console.log(`  sequential  ${fmt(r.seq)}  ratio to jose ${(median(base.seq) / median(r.seq)).toFixed(2)}×`);
  console.log(
    `  concurrent  wall ${fmt(r.wall)}  CPU ${fmt(r.cpu)}  CPU ratio ${(median(base.cpu) / median(r.cpu)).toFixed(2)}×`,
  );
}
