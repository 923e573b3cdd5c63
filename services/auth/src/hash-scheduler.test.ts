import { ChatError } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { type HashPriority, HashScheduler } from './hash-scheduler.js';

/** A task the test finishes by hand: the scheduler's order is observed, not timed. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, done };
}

/** Lets every settled promise run its continuations. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness(options: { concurrency: number; login: number; register: number }) {
  const scheduler = new HashScheduler({
    concurrency: options.concurrency,
    maxQueued: { login: options.login, register: options.register },
    initialEstimateMs: 1000,
  });
  const started: string[] = [];
  const gates = new Map<string, ReturnType<typeof gate>>();
  const submit = (name: string, priority: HashPriority) => {
    const g = gate();
    gates.set(name, g);
    return scheduler.run(priority, async () => {
      started.push(name);
      await g.done;
      return name;
    });
  };
  const finish = async (name: string) => {
    gates.get(name)!.open();
    await settle();
  };
  return { scheduler, started, submit, finish };
}

async function rejection(promise: Promise<unknown>): Promise<ChatError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ChatError) return err;
    throw err;
  }
  throw new Error('expected a ChatError');
}

describe('HashScheduler', () => {
  it('runs at most `concurrency` tasks at once', async () => {
    const h = harness({ concurrency: 2, login: 10, register: 10 });
    const all = ['a', 'b', 'c', 'd'].map((name) => h.submit(name, 'login'));
    await settle();
    expect(h.started).toEqual(['a', 'b']);
    expect(h.scheduler.load).toEqual({ running: 2, queued: { login: 2, register: 0 } });
    await h.finish('a');
    expect(h.started).toEqual(['a', 'b', 'c']);
    await h.finish('b');
    await h.finish('c');
    await h.finish('d');
    expect(await Promise.all(all)).toEqual(['a', 'b', 'c', 'd']);
    expect(h.scheduler.load).toEqual({ running: 0, queued: { login: 0, register: 0 } });
  });

  it('refuses a registration at once when it would likely wait longer than its bound', async () => {
    const scheduler = new HashScheduler({
      concurrency: 1,
      maxQueued: { login: 10, register: 10 },
      maxWaitMs: { register: 1500 },
      initialEstimateMs: 1000,
    });
    const g = gate();
    const running = scheduler.run('register', () => g.done);
    // One queued registration would wait about one hash (1 s): admitted.
    const queued = scheduler.run('register', async () => 'second');
    // The next would wait about two (2 s > 1.5 s): refused now, with when to come back.
    await expect(scheduler.run('register', async () => 'third')).rejects.toMatchObject({
      code: 'rate_limited',
      retryAfterSec: 2,
    });
    g.open();
    await running;
    expect(await queued).toBe('second');
  });

  it('keeps a slot free of registrations, so a login never waits behind sign-ups', async () => {
    const h = harness({ concurrency: 2, login: 10, register: 10 });
    void h.submit('r0', 'register');
    void h.submit('r1', 'register');
    await settle();
    expect(h.started).toEqual(['r0']);
    void h.submit('l0', 'login');
    await settle();
    expect(h.started).toEqual(['r0', 'l0']);
    await h.finish('r0');
    expect(h.started).toEqual(['r0', 'l0', 'r1']);
  });

  it('serves every waiting login before any waiting registration, each in arrival order', async () => {
    const h = harness({ concurrency: 1, login: 10, register: 10 });
    void h.submit('r0', 'register');
    void h.submit('r1', 'register');
    void h.submit('r2', 'register');
    void h.submit('l1', 'login');
    void h.submit('l2', 'login');
    await settle();
    for (const name of ['r0', 'l1', 'l2', 'r1', 'r2']) await h.finish(name);
    expect(h.started).toEqual(['r0', 'l1', 'l2', 'r1', 'r2']);
  });

  it('refuses a task past its queue bound at once with rate_limited and a Retry-After estimate', async () => {
    const h = harness({ concurrency: 1, login: 1, register: 2 });
    void h.submit('r0', 'register');
    void h.submit('r1', 'register');
    void h.submit('r2', 'register');
    await settle();
    const refused = await rejection(h.submit('r3', 'register'));
    expect(refused.code).toBe('rate_limited');
    // Two waiting plus itself, at the 1 s first estimate, one slot.
    expect(refused.retryAfterSec).toBe(3);
    expect(h.started).not.toContain('r3');
    // The registration queue being full does not refuse logins: they have their own bound.
    const login = h.submit('l1', 'login');
    await settle();
    expect(h.scheduler.load.queued).toEqual({ login: 1, register: 2 });
    expect((await rejection(h.submit('l2', 'login'))).retryAfterSec).toBe(2);
    for (const name of ['r0', 'l1', 'r1', 'r2']) await h.finish(name);
    expect(await login).toBe('l1');
  });

  it('frees the slot of a task that throws', async () => {
    const scheduler = new HashScheduler({ concurrency: 1, maxQueued: { login: 1, register: 1 } });
    await expect(scheduler.run('login', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await scheduler.run('login', async () => 'next')).toBe('next');
    expect(scheduler.load.running).toBe(0);
  });
});
