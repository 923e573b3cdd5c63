import { describe, expect, it } from 'vitest';
import { closeDisposition } from './connection-state.js';

describe('closeDisposition', () => {
  it.each([
    [1012, '', { fatal: false, authRejected: false, errorCode: 'server_shutting_down' }],
    [4008, 'slow_consumer', { fatal: false, authRejected: false, errorCode: 'slow_consumer' }],
    [4001, 'unauthorized', { fatal: false, authRejected: true, errorCode: 'unauthorized' }],
    [4002, '', { fatal: false, authRejected: true, errorCode: 'token_expired' }],
    [4003, 'forbidden', { fatal: true, authRejected: false, errorCode: 'forbidden' }],
    [1009, '', { fatal: false, authRejected: false, errorCode: 'payload_too_large' }],
    [1011, '', { fatal: false, authRejected: false, errorCode: 'internal' }],
    [1006, '', { fatal: false, authRejected: false }],
    [1000, '', { fatal: false, authRejected: false }],
  ])('close %i %j → %j', (code, reason, expected) => {
    expect(closeDisposition(code, reason)).toEqual(expected);
  });

  it('prefers the error code the server put in the close reason', () => {
    expect(closeDisposition(1008, 'token_expired')).toEqual({
      fatal: false,
      authRejected: true,
      errorCode: 'token_expired',
    });
  });

  it('ignores a close reason that is not an error code', () => {
    expect(closeDisposition(1001, 'going away')).toEqual({ fatal: false, authRejected: false });
  });
});
