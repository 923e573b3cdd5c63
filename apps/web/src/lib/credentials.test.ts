import { ChatError } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { checkCredentials, credentialErrorsOf, throttleMessage } from './credentials.js';

describe('credential checks', () => {
  it('explains short, long and odd usernames and short passwords when registering', () => {
    expect(checkCredentials('register', 'ab', 'longenough')).toEqual({ username: 'Use 3 to 32 characters.' });
    expect(checkCredentials('register', 'a b c', 'longenough').username).toMatch(/letters, digits/);
    expect(checkCredentials('register', 'ada', 'short')).toEqual({ password: 'Use at least 8 characters.' });
  });

  it('accepts upper case usernames, which the server lowers', () => {
    expect(checkCredentials('register', 'Ada.L', 'longenough')).toEqual({});
  });

  it('only checks presence when logging in', () => {
    expect(checkCredentials('login', '', '')).toEqual({
      username: 'Enter a username.',
      password: 'Enter a password.',
    });
    expect(checkCredentials('login', 'ab', 'x')).toEqual({});
  });
});

describe('server errors on the form', () => {
  it('puts a taken username on the username field', () => {
    expect(credentialErrorsOf(new ChatError('username_taken'))).toEqual({
      username: 'That username is taken. Try another one.',
    });
  });

  it('maps validation fields to their inputs', () => {
    const error = new ChatError('validation_failed', 'bad', {
      fields: [{ field: '/password', message: 'must be at least 8 characters' }],
    });
    expect(credentialErrorsOf(error)).toEqual({ password: 'Must be at least 8 characters' });
  });

  it('says when throttled and for how long', () => {
    expect(credentialErrorsOf(new ChatError('rate_limited', 'slow', { retryAfterSec: 42 }))).toEqual({
      form: 'Too many attempts. Try again in 42 seconds.',
      retryAfterSec: 42,
    });
    expect(throttleMessage(600)).toBe('Too many attempts. Try again in 10 minutes.');
  });

  it('gives one answer for wrong password and unknown user', () => {
    expect(credentialErrorsOf(new ChatError('invalid_credentials'))).toEqual({
      form: 'Wrong username or password.',
    });
  });
});
