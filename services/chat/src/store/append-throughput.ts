/**
 * Measures how many messages per second a message store persists through `append`
 * batches (group commit), durable commits on. A development tool, not part of the service:
 *
 *   npx tsx --conditions source services/chat/src/store/append-throughput.ts \
 *     [--url <MESSAGE_STORE_URL>] [--messages 20000] [--batch 100] [--conversations 1000] [--inflight 1]
 *     [--prefill 0] [--profile <file.cpuprofile>]
 *
 * Without --url it creates a fresh PostgreSQL database through testkit and drops it after.
 * `--inflight` is how many batches are written at once (one per chat replica's batcher).
 * `--prefill N` stores N messages (in batches of 500, not timed) before the measured ones, so
 * that the indexes are as deep as a long-lived server's. `--profile` writes a CPU profile of
 * this thread over the measured appends only (`npm run bench -- profile <file>` sums it up;
 * with SQLITE_STORE_THREAD=main it holds the store's work).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { asUserId, type ConversationId, type UserId } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { createTestDatabase } from '@relay-chat/testkit';
import { createMessageStore } from './factory.js';
import type { AppendInput } from './message-store.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    messages: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '100' },
    conversations: { type: 'string', default: '1000' },
    inflight: { type: 'string', default: '1' },
    prefill: { type: 'string', default: '0' },
    profile: { type: 'string' },
  },
});
const total = Number(values.messages);
const batchSize = Number(values.batch);
const conversationCount = Number(values.conversations);
const inflight = Number(values.inflight);
const prefill = Number(values.prefill);

const database = values.url ? undefined : await createTestDatabase('append_throughput');
const url = values.url ?? database!.url;
// SQLite: SQLITE_STORE_THREAD=main runs the store in this thread (for a CPU profile of it).
const store = createMessageStore(url, createLogger({ name: 'append-throughput', level: 'warn' }), {
  sqliteThread: process.env.SQLITE_STORE_THREAD === 'main' ? 'main' : 'worker',
});
try {
  await store.migrate();
  const users = Array.from({ length: 50 }, () => asUserId(`u-${randomUUID()}`));
  const convs: { id: ConversationId; members: UserId[] }[] = [];
  for (let i = 0; i < conversationCount; i++) {
    const members = [users[i % users.length]!, users[(i + 1) % users.length]!];
    const c = await store.createGroup({ name: `bench-${i}`, createdBy: members[0]!, members }, Date.now());
    convs.push({ id: c.id, members });
  }
  /** `count` messages in batches of `size`, round-robin over the conversations. */
  const batchesOf = (count: number, size: number): AppendInput[][] => {
    const batches: AppendInput[][] = [];
    for (let sent = 0; sent < count; sent += size) {
      batches.push(
        Array.from({ length: Math.min(size, count - sent) }, (_, i) => {
          const conv = convs[(sent + i) % convs.length]!;
          return {
            conv: conv.id,
            sender: conv.members[(sent + i) % 2]!,
            clientMsgId: randomUUID(),
            body: 'x'.repeat(80),
            ts: Date.now(),
          };
        }),
      );
    }
    return batches;
  };
  for (const batch of batchesOf(prefill, 500)) await store.append(batch);
  const batches = batchesOf(total, batchSize);
  let next = 0;
  const profiler = values.profile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const serverBefore = url.startsWith('postgres') ? postgresCpuTicks() : undefined;
  const clientBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < batches.length) await store.append(batches[next++]!);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const client = process.cpuUsage(clientBefore);
  const clientUs = (client.user + client.system) / total;
  const serverSeconds = postgresCpuSince(serverBefore);
  // After the CPU readings: writing the profile out is not the appends' work.
  if (profiler && values.profile) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(values.profile, JSON.stringify(profile));
    profiler.disconnect();
  }
  const server =
    serverSeconds === undefined ? '' : `, PostgreSQL ${Math.round((serverSeconds * 1e6) / total)} µs`;
  console.log(
    `${total} messages in ${batches.length} batches of ${batchSize} over ${conversationCount} conversations, ` +
      `${inflight} in flight${prefill > 0 ? `, after ${prefill}` : ''}: ${seconds.toFixed(2)} s, ${Math.round(total / seconds)} messages/s; ` +
      `CPU per message: client ${Math.round(clientUs)} µs${server}`,
  );
} finally {
  await store.close();
  await database?.drop();
}

/**
 * CPU ticks used so far by each of this machine's PostgreSQL processes (from /proc), or
 * undefined where /proc cannot tell (not Linux). Only meaningful when the server is local and
 * otherwise idle.
 */
function postgresCpuTicks(): Map<string, number> | undefined {
  const ticks = new Map<string, number>();
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (!stat.includes('(postgres)')) continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks.set(pid, Number(fields[11]) + Number(fields[12]));
      } catch {
        // The process ended meanwhile.
      }
    }
  } catch {
    return undefined;
  }
  return ticks;
}

/** CPU seconds PostgreSQL used between two readings: processes that ended meanwhile are not counted. */
function postgresCpuSince(before: Map<string, number> | undefined): number | undefined {
  const after = postgresCpuTicks();
  if (!before || !after) return undefined;
  let ticks = 0;
  for (const [pid, now] of after) ticks += now - (before.get(pid) ?? 0);
  // USER_HZ is 100 on every Linux that Node supports.
  return ticks / 100;
}
