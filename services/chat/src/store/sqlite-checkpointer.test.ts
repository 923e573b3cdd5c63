import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asUserId } from '@relay-chat/protocol';
import { waitFor } from '@relay-chat/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteMessageStore } from './sqlite.js';
import { startWalCheckpointer } from './sqlite-checkpointer.js';

// The WAL checkpointed on a thread of its own (sqlite-checkpointer.ts), against real files.
describe('SQLite store: checkpoints off the writer', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const fileOf = () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-chat-ckpt-'));
    dirs.push(dir);
    return join(dir, 'chat.db');
  };
  const [a, b] = [asUserId('k-a'), asUserId('k-b')];

  /** Appends `n` messages; returns the database file's size before they were written. */
  async function appendSome(store: SqliteMessageStore, file: string, n: number): Promise<number> {
    await store.migrate();
    const g = (await store.createGroup({ name: 'ckpt', createdBy: a, members: [b] }, 0)).id;
    const before = statSync(file).size;
    for (let i = 0; i < n; i += 50) {
      await store.append(
        Array.from({ length: 50 }, (_, k) => ({
          conv: g,
          sender: a,
          clientMsgId: `m${i + k}`,
          body: `message ${i + k} ${'z'.repeat(400)}`,
          ts: i + k,
        })),
      );
    }
    return before;
  }

  it('moves committed pages into the database file while the writer goes on', async () => {
    const file = fileOf();
    const store = new SqliteMessageStore(`sqlite:${file}`, { backgroundCheckpoints: true });
    try {
      const before = await appendSome(store, file, 300);
      // Far fewer pages than the writer's own threshold: only the checkpointer copies them.
      await waitFor(() => statSync(file).size > before, { what: 'a background checkpoint' });
    } finally {
      await store.close();
    }
    // Closing stops the thread, then the last connection checkpoints the rest and removes the WAL.
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('without it, the same commits stay in the WAL (the writer checkpoints at 1,000 pages)', async () => {
    const file = fileOf();
    const store = new SqliteMessageStore(`sqlite:${file}`);
    try {
      const before = await appendSome(store, file, 300);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(statSync(file).size).toBe(before);
    } finally {
      await store.close();
    }
  });

  it('reports a database it cannot open, and stops cleanly', async () => {
    const errors: string[] = [];
    const checkpointer = startWalCheckpointer(join(tmpdir(), 'relay-chat-no-such-dir', 'none.db'), {
      onError: (message) => errors.push(message),
    });
    await waitFor(() => errors.length > 0, { what: 'the error' });
    await checkpointer.stop();
  });
});
