import { toChatError } from '@relay-chat/protocol';
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import {
  type AuthMode,
  type CredentialErrors,
  checkCredentials,
  credentialErrorsOf,
  hasErrors,
  throttleMessage,
} from '../lib/credentials.js';
import { ChatIcon, EyeIcon } from './icons.js';

export interface AuthScreenProps {
  /** Resolves once signed in; rejects with a ChatError. */
  login(username: string, password: string): Promise<void>;
  /** Creates the account, then signs in. */
  register(username: string, password: string): Promise<void>;
}

/** Sign in / create account, with field errors and the throttling countdown. */
export function AuthScreen({ login, register }: AuthScreenProps) {
  const [mode, setMode] = useState<AuthMode>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [showPassword, setShowPassword] = useState(false);
  const [errors, setErrors] = useState<CredentialErrors>({});
  const [busy, setBusy] = useState(false);
  const [throttledUntil, setThrottledUntil] = useState<number | undefined>();
  const [now, setNow] = useState(() => Date.now());
  const usernameRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  const ids = {
    username: useId(),
    password: useId(),
    usernameError: useId(),
    passwordError: useId(),
    form: useId(),
  };

  // Count the throttle down once a second; the button comes back when it ends.
  useEffect(() => {
    if (throttledUntil === undefined) return;
    const timer = setInterval(() => {
      const t = Date.now();
      setNow(t);
      if (t >= throttledUntil) {
        setThrottledUntil(undefined);
        setErrors((e) => (e.retryAfterSec ? {} : e));
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [throttledUntil]);

  const switchMode = (next: AuthMode) => {
    setMode(next);
    setErrors({});
    usernameRef.current?.focus();
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (busy || throttledUntil !== undefined) return;
    const local = checkCredentials(mode, username, password);
    if (hasErrors(local)) {
      setErrors(local);
      (local.username ? usernameRef : passwordRef).current?.focus();
      return;
    }
    setBusy(true);
    setErrors({});
    const name = username.trim().toLowerCase();
    try {
      if (mode === 'register') await register(name, password);
      else await login(name, password);
    } catch (err) {
      const next = credentialErrorsOf(toChatError(err));
      setErrors(next);
      if (next.retryAfterSec) setThrottledUntil(Date.now() + next.retryAfterSec * 1000);
      if (next.username) usernameRef.current?.focus();
      else if (next.password) passwordRef.current?.focus();
      setBusy(false);
    }
  };

  const secondsLeft = throttledUntil ? Math.max(1, Math.ceil((throttledUntil - now) / 1000)) : undefined;
  const formError = secondsLeft ? throttleMessage(secondsLeft) : errors.form;
  const registering = mode === 'register';

  return (
    <main className="auth-page">
      <div className="auth-card">
        <div className="auth-brand">
          <span className="brand-mark large" aria-hidden="true">
            <ChatIcon width="28" height="28" />
          </span>
          <h1>{registering ? 'Create your account' : 'Welcome back'}</h1>
          <p className="muted">
            {registering
              ? 'Pick a username and a password to start chatting.'
              : 'Sign in to relay to continue.'}
          </p>
        </div>
        <div
          className="segmented"
          role="tablist"
          aria-label="Sign in or create an account"
          onKeyDown={(e) => {
            if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
            e.preventDefault();
            const next = registering ? 'login' : 'register';
            setMode(next);
            setErrors({});
            e.currentTarget.querySelectorAll('button')[next === 'login' ? 0 : 1]?.focus();
          }}
        >
          <button
            type="button"
            role="tab"
            aria-selected={!registering}
            tabIndex={registering ? -1 : 0}
            className={!registering ? 'active' : ''}
            onClick={() => switchMode('login')}
          >
            Sign in
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={registering}
            tabIndex={registering ? 0 : -1}
            className={registering ? 'active' : ''}
            onClick={() => switchMode('register')}
          >
            Create account
          </button>
        </div>
        <form
          onSubmit={submit}
          noValidate
          aria-describedby={formError ? ids.form : undefined}
          data-testid="auth-form"
        >
          <div className="field">
            <label htmlFor={ids.username}>Username</label>
            <input
              ref={usernameRef}
              id={ids.username}
              name="username"
              value={username}
              onChange={(e) => {
                setUsername(e.target.value);
                if (errors.username) setErrors((x) => ({ ...x, username: undefined }));
              }}
              autoComplete="username"
              autoCapitalize="none"
              autoCorrect="off"
              spellCheck={false}
              // biome-ignore lint/a11y/noAutofocus: the only thing to do on this page
              autoFocus
              aria-invalid={errors.username ? true : undefined}
              aria-describedby={errors.username ? ids.usernameError : undefined}
            />
            {errors.username ? (
              <span id={ids.usernameError} className="field-error" role="alert">
                {errors.username}
              </span>
            ) : (
              registering && (
                <span className="field-hint">3–32 characters: a–z, 0–9, dot, dash, underscore.</span>
              )
            )}
          </div>
          <div className="field">
            <label htmlFor={ids.password}>Password</label>
            <div className="password-input">
              <input
                ref={passwordRef}
                className="bare"
                id={ids.password}
                name="password"
                type={showPassword ? 'text' : 'password'}
                value={password}
                onChange={(e) => {
                  setPassword(e.target.value);
                  if (errors.password) setErrors((x) => ({ ...x, password: undefined }));
                }}
                autoComplete={registering ? 'new-password' : 'current-password'}
                aria-invalid={errors.password ? true : undefined}
                aria-describedby={errors.password ? ids.passwordError : undefined}
              />
              <button
                type="button"
                className="icon-button reveal"
                onClick={() => setShowPassword((v) => !v)}
                aria-label={showPassword ? 'Hide password' : 'Show password'}
                aria-pressed={showPassword}
              >
                <EyeIcon off={showPassword} />
              </button>
            </div>
            {errors.password ? (
              <span id={ids.passwordError} className="field-error" role="alert">
                {errors.password}
              </span>
            ) : (
              registering && <span className="field-hint">At least 8 characters.</span>
            )}
          </div>
          {formError && (
            <p id={ids.form} className="form-error" role="alert" data-testid="auth-error">
              {formError}
            </p>
          )}
          <button
            type="submit"
            className="primary-button wide"
            disabled={busy || secondsLeft !== undefined}
            data-testid="auth-submit"
          >
            {busy
              ? registering
                ? 'Creating account…'
                : 'Signing in…'
              : registering
                ? 'Create account'
                : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
