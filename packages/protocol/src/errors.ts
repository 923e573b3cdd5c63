/**
 * The closed set of error codes shared by every service, the SDK and the web client.
 *
 * Each code maps to one HTTP status and, where the error ends a WebSocket connection,
 * one close code. `retryable` tells clients whether the same request may succeed later
 * without any change on their side. docs/protocol.md documents every code; a test fails
 * when one is missing there.
 */
export const ERROR_CODES = {
  bad_request: { status: 400, retryable: false, message: 'The request is malformed.' },
  validation_failed: { status: 400, retryable: false, message: 'A field has an invalid value.' },
  invalid_frame: { status: 400, retryable: false, message: 'The frame is not valid JSON of a known shape.' },
  unknown_frame_type: { status: 400, retryable: false, message: 'The frame type is not known.' },
  seq_out_of_range: {
    status: 400,
    retryable: false,
    message: 'The sequence number is beyond the conversation.',
  },
  unauthorized: {
    status: 401,
    retryable: false,
    closeCode: 4001,
    message: 'Authentication is missing or invalid.',
  },
  token_expired: { status: 401, retryable: true, closeCode: 4002, message: 'The access token has expired.' },
  invalid_credentials: { status: 401, retryable: false, message: 'Wrong username or password.' },
  invalid_refresh_token: {
    status: 401,
    retryable: false,
    message: 'The refresh token is unknown, expired or spent.',
  },
  forbidden: { status: 403, retryable: false, closeCode: 4003, message: 'This action is not allowed.' },
  origin_not_allowed: { status: 403, retryable: false, message: 'The Origin is not allowed.' },
  not_member: { status: 403, retryable: false, message: 'You are not a member of this conversation.' },
  not_found: { status: 404, retryable: false, message: 'Not found.' },
  username_taken: { status: 409, retryable: false, message: 'That username is taken.' },
  conflict: { status: 409, retryable: false, message: 'The request conflicts with the current state.' },
  payload_too_large: { status: 413, retryable: false, closeCode: 1009, message: 'The payload is too large.' },
  unsupported_media_type: { status: 415, retryable: false, message: 'Send application/json.' },
  rate_limited: { status: 429, retryable: true, message: 'Too many requests; slow down.' },
  slow_consumer: {
    status: 503,
    retryable: true,
    closeCode: 4008,
    message: 'The connection fell too far behind and was closed; reconnect and resume.',
  },
  internal: { status: 500, retryable: true, closeCode: 1011, message: 'Internal error.' },
  unavailable: { status: 503, retryable: true, closeCode: 1013, message: 'The service is unavailable.' },
  server_shutting_down: {
    status: 503,
    retryable: true,
    closeCode: 1012,
    message: 'The server is restarting; reconnect.',
  },
} as const satisfies Record<string, ErrorSpec>;

interface ErrorSpec {
  /** HTTP status for this code. */
  status: number;
  /** Whether the same request may succeed later unchanged. */
  retryable: boolean;
  /** WebSocket close code when this error ends a connection. */
  closeCode?: number;
  /** Default human-readable message. */
  message: string;
}

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

export function isRetryable(code: ErrorCode): boolean {
  return ERROR_CODES[code].retryable;
}

/** The WebSocket close code for an error that ends a connection (1008 policy violation otherwise). */
export function closeCodeOf(code: ErrorCode): number {
  const spec: ErrorSpec = ERROR_CODES[code];
  return spec.closeCode ?? 1008;
}

/** Maps a WebSocket close code back to the error code that produced it, if any. */
export function errorCodeOfClose(closeCode: number): ErrorCode | undefined {
  for (const code of ERROR_CODE_LIST) {
    const spec: ErrorSpec = ERROR_CODES[code];
    if (spec.closeCode === closeCode) return code;
  }
  return undefined;
}

/** Field-level detail for `validation_failed`. */
export interface FieldIssue {
  /** JSON pointer-ish path of the field, e.g. `/username`. */
  field: string;
  message: string;
}

/** The JSON error body of every HTTP error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; fields?: FieldIssue[] };
}

/** The one error class used across services and clients. */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  readonly code: ErrorCode;
  readonly fields: FieldIssue[] | undefined;
  /** Seconds the client should wait before retrying (429). */
  readonly retryAfterSec: number | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options?: { fields?: FieldIssue[]; retryAfterSec?: number; cause?: unknown },
  ) {
    super(
      message ?? ERROR_CODES[code].message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.fields = options?.fields;
    this.retryAfterSec = options?.retryAfterSec;
  }

  get status(): number {
    return httpStatusOf(this.code);
  }

  get retryable(): boolean {
    return isRetryable(this.code);
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.fields && this.fields.length > 0) body.error.fields = this.fields;
    return body;
  }
}

/** Normalises anything thrown into a ChatError; unknown failures become `internal` with a generic message. */
export function toChatError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  if (isErrorBody(err)) return new ChatError(err.error.code, err.error.message, { fields: err.error.fields });
  return new ChatError('internal', undefined, { cause: err });
}

export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const inner = (value as { error?: unknown }).error;
  return (
    typeof inner === 'object' &&
    inner !== null &&
    isErrorCode((inner as { code?: unknown }).code) &&
    typeof (inner as { message?: unknown }).message === 'string'
  );
}
