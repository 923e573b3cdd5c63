import { ChatError, type ConversationId } from '@relay-chat/protocol';
import { ApiClient, ChatApi } from '@relay-chat/sdk';
import { inParallel } from '@relay-chat/service-kit';
import type { BenchUser } from './user-pool.js';

/** REST calls in flight while setting up conversations. */
const SETUP_CONCURRENCY = 32;

function chatApiFor(baseUrl: string, user: BenchUser): ChatApi {
  return new ChatApi(new ApiClient({ baseUrl, getToken: () => user.accessToken, timeoutMs: 60_000 }));
}

/**
 * The public channel `name` with every one of `users` a member: created by the first user
 * when it does not exist, joined by the others (joining is idempotent, so a channel kept from
 * an earlier run is reused). Returns its id.
 */
export async function setUpChannel(
  baseUrl: string,
  users: readonly BenchUser[],
  name: string,
): Promise<ConversationId> {
  const owner = chatApiFor(baseUrl, users[0]!);
  let id: ConversationId;
  try {
    id = (await owner.createChannel(name)).id;
  } catch (err) {
    if (!(err instanceof ChatError) || err.code !== 'conflict') throw err;
    const page = await owner.channels({ q: name, limit: 10 });
    const found = page.channels.find((c) => c.name === name);
    if (!found) throw new Error(`channel "${name}" exists but is not listed`);
    id = found.id;
  }
  await inParallel(users.length - 1, SETUP_CONCURRENCY, async (i) => {
    await chatApiFor(baseUrl, users[i + 1]!).join(id);
  });
  return id;
}

/** A DM between users 2i and 2i+1 (idempotent); returns the conversation of each pair. */
export async function setUpDms(baseUrl: string, users: readonly BenchUser[]): Promise<ConversationId[]> {
  const pairs = Math.floor(users.length / 2);
  const convs: ConversationId[] = new Array(pairs);
  await inParallel(pairs, SETUP_CONCURRENCY, async (i) => {
    const conversation = await chatApiFor(baseUrl, users[2 * i]!).createDm(users[2 * i + 1]!.id);
    convs[i] = conversation.id;
  });
  return convs;
}
