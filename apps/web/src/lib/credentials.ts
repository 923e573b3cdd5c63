import { type ChatError, LIMITS } from '@relay-chat/protocol';

export type AuthMode = 'login' | 'register';

/** Problems with the form, by field, plus one for the whole form. */
export interface CredentialErrors {
  username?: string;
  password?: string;
  form?: string;
  /** Seconds until login may be tried again (throttled). */
  retryAfterSec?: number;
}

/**
 * Checks the form before it is sent, with the same rules as the server, so most mistakes
 * are explained without a round trip. Login only checks presence: the server decides.
 */
export function checkCredentials(mode: AuthMode, username: string, password: string): CredentialErrors {
  const errors: CredentialErrors = {};
  const name = username.trim().toLowerCase();
  if (name.length === 0) errors.username = 'Enter a username.';
  else if (mode === 'register') {
    if (name.length < LIMITS.usernameMinChars || name.length > LIMITS.usernameMaxChars) {
      errors.username = `Use ${LIMITS.usernameMinChars} to ${LIMITS.usernameMaxChars} characters.`;
    } else if (!/^[a-z0-9_.-]+$/.test(name)) {
      errors.username = 'Use letters, digits, dots, dashes and underscores only.';
    }
  }
  if (password.length === 0) errors.password = 'Enter a password.';
  else if (mode === 'register') {
    if (password.length < LIMITS.passwordMinChars) {
      errors.password = `Use at least ${LIMITS.passwordMinChars} characters.`;
    } else if (password.length > LIMITS.passwordMaxChars) {
      errors.password = `Use at most ${LIMITS.passwordMaxChars} characters.`;
    }
  }
  return errors;
}

export function hasErrors(errors: CredentialErrors): boolean {
  return Boolean(errors.username || errors.password || errors.form);
}

/** Turns a failed login or registration into what the form shows, field by field. */
export function credentialErrorsOf(error: ChatError): CredentialErrors {
  switch (error.code) {
    case 'username_taken':
      return { username: 'That username is taken. Try another one.' };
    case 'invalid_credentials':
      return { form: 'Wrong username or password.' };
    case 'rate_limited': {
      const seconds = Math.max(1, Math.ceil(error.retryAfterSec ?? 60));
      return { form: throttleMessage(seconds), retryAfterSec: seconds };
    }
    case 'validation_failed': {
      const out: CredentialErrors = {};
      for (const issue of error.fields ?? []) {
        if (issue.field.includes('username')) out.username ??= capitalise(issue.message);
        else if (issue.field.includes('password')) out.password ??= capitalise(issue.message);
      }
      if (!out.username && !out.password) out.form = error.message;
      return out;
    }
    case 'unavailable':
    case 'internal':
      return { form: 'The server cannot be reached right now. Try again in a moment.' };
    default:
      return { form: error.message };
  }
}

/** "Too many attempts. Try again in 42 seconds." / "… in 2 minutes." */
export function throttleMessage(seconds: number): string {
  if (seconds < 90) return `Too many attempts. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
  const minutes = Math.ceil(seconds / 60);
  return `Too many attempts. Try again in ${minutes} minutes.`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
