/**
 * Measures how many messages per second a message store persists through `append`
 * batches (group commit), durable commits on. A development tool, not part of the service:
 *
 *   npx tsx --conditions source services/chat/src/store/append-throughput.ts \
 *     [--url <MESSAGE_STORE_URL>] [--messages 20000] [--batch 100] [--conversations 1000] [--inflight 1]
 *
 * Without --url it creates a fresh PostgreSQL database through testkit and drops it after.
 * `--inflight` is how many batches are written at once (one per chat replica's batcher).
 */
import { randomUUID } from 'node:crypto';
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
  },
});
const total = Number(values.messages);
const batchSize = Number(values.batch);
const conversationCount = Number(values.conversations);
const inflight = Number(values.inflight);

const database = values.url ? undefined : await createTestDatabase('append_throughput');
const url = values.url ?? database!.url;
const store = createMessageStore(url, createLogger({ name: 'append-throughput', level: 'warn' }));
try {
  await store.migrate();
  const users = Array.from({ length: 50 }, () => asUserId(`u-${randomUUID()}`));
  const convs: { id: ConversationId; members: UserId[] }[] = [];
  for (let i = 0; i < conversationCount; i++) {
    const members = [users[i % users.length]!, users[(i + 1) % users.length]!];
    const c = await store.createGroup({ name: `bench-${i}`, createdBy: members[0]!, members }, Date.now());
    convs.push({ id: c.id, members });
  }
  const batches: AppendInput[][] = [];
  for (let sent = 0; sent < total; sent += batchSize) {
    batches.push(
      Array.from({ length: Math.min(batchSize, total - sent) }, (_, i) => {
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
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < batches.length) await store.append(batches[next++]!);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `${total} messages in ${batches.length} batches of ${batchSize} over ${conversationCount} conversations, ` +
      `${inflight} in flight: ${seconds.toFixed(2)} s, ${Math.round(total / seconds)} messages/s`,
  );
} finally {
  await store.close();
  await database?.drop();
}
