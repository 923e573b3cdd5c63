import { connect } from 'node:net';
import { ChatError } from '@relay-chat/protocol';
import { freePort } from '@relay-chat/testkit';
import Database from 'better-sqlite3';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isUnavailableError, toServiceError } from './service-error.js';

function sqlError(code: string, message = 'server says no'): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  err.code = code;
  return err;
}

/** The error a real TCP connect to a closed port gives. */
async function refusedConnect(): Promise<Error> {
  const port = await freePort();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', resolve);
  });
}

describe('toServiceError', () => {
  it('keeps a ChatError as it is', () => {
    const err = new ChatError('not_member');
    expect(toServiceError(err)).toBe(err);
  });

  it('answers unavailable when PostgreSQL refuses a connection, keeping the cause', async () => {
    const refused = await refusedConnect();
    expect((refused as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    const err = toServiceError(refused);
    expect(err.code).toBe('unavailable');
    expect(err.message).toBe('The service is unavailable.');
    expect(err.cause).toBe(refused);

    const client = new pg.Client({ connectionString: `postgres://x@127.0.0.1:${await freePort()}/x` });
    const failed = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(toServiceError(failed).code).toBe('unavailable');
  });

  it.each([
    ['57P01', 'admin shutdown'],
    ['57P02', 'crash shutdown'],
    ['57P03', 'cannot connect now'],
    ['53300', 'too many connections'],
    ['57014', 'statement timeout'],
    ['08006', 'connection failure'],
    ['08P01', 'protocol violation'],
  ])('answers unavailable for SQLSTATE %s (%s)', (code) => {
    expect(toServiceError(sqlError(code)).code).toBe('unavailable');
  });

  it.each([
    'timeout exceeded when trying to connect',
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Query read timeout',
    'Client has encountered a connection error and is not queryable',
    'Connection is closed.',
  ])('answers unavailable for the driver error "%s"', (message) => {
    expect(toServiceError(new Error(message)).code).toBe('unavailable');
  });

  it('answers unavailable for ECONNRESET, timeouts and SQLite SQLITE_BUSY', () => {
    for (const code of ['ECONNRESET', 'ETIMEDOUT', 'EPIPE']) {
      expect(toServiceError(Object.assign(new Error(code), { code })).code, code).toBe('unavailable');
    }
    const busy = new Database.SqliteError('database is locked', 'SQLITE_BUSY');
    expect(toServiceError(busy).code).toBe('unavailable');
  });

  it('looks through causes and AggregateErrors', async () => {
    const wrapped = new Error('migration 0001 failed', { cause: sqlError('57P03') });
    expect(toServiceError(wrapped).code).toBe('unavailable');
    const dualStack = new AggregateError([await refusedConnect()], 'connect failed');
    expect(isUnavailableError(dualStack)).toBe(true);
  });

  it('answers internal for anything else, without its message', () => {
    for (const err of [
      sqlError('23505', 'duplicate key value violates unique constraint'),
      sqlError('42P01', 'relation "users" does not exist'),
      new TypeError('cannot read properties of undefined'),
      'a string',
      undefined,
    ]) {
      const mapped = toServiceError(err);
      expect(mapped.code).toBe('internal');
      expect(mapped.message).toBe('Internal error.');
    }
  });
});
