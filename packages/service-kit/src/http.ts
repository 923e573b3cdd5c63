import { STATUS_CODES as HTTP_REASONS } from 'node:http';
import type { Socket } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ChatError, type ErrorCode, type FieldIssue, LIMITS } from '@relay-chat/protocol';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaCompiler,
  LogController,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import type { TSchema } from 'typebox';
import Compile from 'typebox/compile';
import Value from 'typebox/value';
import { withDeadline } from './deadline.js';
import { DEFAULT_INTERNAL_NETWORKS, InternalNetworks } from './internal-networks.js';
import type { Logger } from './logger.js';
import { histogram, metricsRegistry } from './metrics.js';
import { toServiceError } from './service-error.js';

/** The Fastify instance type every relay-chat service uses (TypeBox schemas, typed routes). */
export type HttpServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression<RawServerDefault>,
  RawReplyDefaultExpression<RawServerDefault>,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface HttpServerOptions {
  logger: Logger;
  /** Largest request body, bytes. Default LIMITS.maxHttpBodyBytes (16 KiB). */
  bodyLimitBytes?: number;
  /** Trust X-Forwarded-* from these proxies (nginx); see Fastify's trustProxy. Default: loopback only. */
  trustProxy?: boolean | string | string[];
  /**
   * Called for requests no route matched, before the JSON `not_found` answer; return true
   * when it answered (e.g. a single-page app's index.html for client-side routes).
   */
  notFoundFallback?: (request: FastifyRequest, reply: FastifyReply) => boolean;
  /**
   * Addresses or CIDRs whose direct, unproxied requests may reach the internal routes
   * (`{prefix}/metrics`, `{prefix}/internal/…`); anyone else gets `not_found`.
   * Default DEFAULT_INTERNAL_NETWORKS (loopback, RFC 1918, fc00::/7). INTERNAL_NETWORKS.
   */
  internalNetworks?: readonly string[];
}

/** The internal-route policy of each server createHttpServer made, for registerCommonRoutes. */
const internalNetworksOf = new WeakMap<object, InternalNetworks>();

/**
 * Creates a Fastify server with relay-chat's conventions: TypeBox validation (bodies are
 * never coerced: a wrong type is a 400), every error answered as `{error:{code,message}}`
 * with a code from the shared set, unknown routes as `not_found`, 5xx details only in logs.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: options.bodyLimitBytes ?? LIMITS.maxHttpBodyBytes,
    trustProxy: options.trustProxy ?? ['127.0.0.1', '::1'],
    return503OnClosing: true,
    // Per-request lines are off: the onResponse hook below records metrics, and 5xx are logged.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    // Errors raised before routing (a malformed or over-long path segment) and by Node's HTTP
    // parser answer the contract body too, not Fastify's or Node's own.
    frameworkErrors: (err, _request, reply) => {
      sendError(reply, toHttpError(err));
    },
    clientErrorHandler: answerClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  internalNetworksOf.set(
    app.server,
    new InternalNetworks(options.internalNetworks ?? DEFAULT_INTERNAL_NETWORKS),
  );

  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    if (options.notFoundFallback?.(request, reply)) return;
    sendError(reply, noRoute(request));
  });

  const duration = histogram('http_request_duration_seconds', 'HTTP request duration', [
    'method',
    'route',
    'status',
  ]);
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    if (reply.statusCode >= 500)
      request.log.warn({ req: request, status: reply.statusCode }, 'request failed');
  });
  return app as unknown as HttpServer;
}

/**
 * Every request of the calling scope gets an answer within `deadlineMs`: one still running
 * then (a dependency that froze, a chain of slow calls) is answered 503 `unavailable` with
 * Retry-After, and whatever it finishes later is not sent. No failure hangs a client.
 */
export function answerWithin(app: HttpServer, deadlineMs: number): void {
  if (deadlineMs <= 0) return;
  const timers = new WeakMap<FastifyRequest, NodeJS.Timeout>();
  app.addHook('onRequest', async (request, reply) => {
    const timer = setTimeout(() => {
      if (reply.sent) return;
      // Hijacked: Fastify sends nothing more for this request when its handler returns.
      reply.hijack();
      const error = new ChatError('unavailable', 'no answer in time; retry shortly', { retryAfterSec: 1 });
      const body = JSON.stringify(error.toBody());
      reply.raw.writeHead(error.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'retry-after': '1',
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      });
      reply.raw.end(body);
      request.log.warn({ route: request.routeOptions.url, deadlineMs }, 'request answered at its deadline');
    }, deadlineMs);
    timer.unref();
    timers.set(request, timer);
  });
  app.addHook('onResponse', async (request) => {
    clearTimeout(timers.get(request));
  });
}

/**
 * TypeBox validation. Bodies are checked as sent (a wrong type is an error, never coerced);
 * querystrings, params and headers get their schema defaults and are converted from text.
 */
const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const validator = Compile(schema);
  return (value: unknown) => {
    const prepared = httpPart === 'body' ? value : Value.Convert(schema, Value.Default(schema, value));
    if (validator.Check(prepared)) return { value: prepared };
    return { error: validationIssuesOf(validator.Errors(prepared)) as unknown as Error };
  };
};

/** One problem found by validation, as toHttpError reads it from Fastify's `validation`. */
interface ValidationIssue {
  /** JSON pointer of the offending value, e.g. `/username`, or `/x` for an unexpected field. */
  instancePath: string;
  message: string;
  /** For an unexpected field: the object holding it, which the headline names. */
  parentPath?: string;
}

/** Most issues one answer lists; the body limit keeps the count small anyway. */
const MAX_VALIDATION_ISSUES = 20;

/**
 * TypeBox's errors, readable: an unexpected field is reported once, by name, as
 * `unexpected field "x"` — TypeBox reports it twice, once as the generic "schema is false"
 * of `additionalProperties: false` (dropped here), once as a list on the parent object.
 */
function validationIssuesOf(
  errors: readonly {
    keyword: string;
    schemaPath: string;
    instancePath: string;
    params: object;
    message: string;
  }[],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const error of errors) {
    if (error.keyword === 'boolean' && error.schemaPath.endsWith('/additionalProperties')) continue;
    if (error.keyword === 'additionalProperties') {
      const names = (error.params as { additionalProperties?: string[] }).additionalProperties ?? [];
      for (const name of names) {
        const shown = name.slice(0, 32);
        issues.push({
          instancePath: `${error.instancePath}/${shown.replace(/~/g, '~0').replace(/\//g, '~1')}`,
          message: `unexpected field ${JSON.stringify(shown)}`,
          parentPath: error.instancePath,
        });
      }
      continue;
    }
    issues.push({ instancePath: error.instancePath, message: error.message });
  }
  return issues.slice(0, MAX_VALIDATION_ISSUES);
}

function noRoute(request: FastifyRequest): ChatError {
  return new ChatError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`);
}

/** Sends a ChatError as the JSON error body, with Retry-After for `rate_limited`. */
export function sendError(reply: FastifyReply, error: ChatError): FastifyReply {
  if (error.retryAfterSec !== undefined) reply.header('retry-after', String(Math.ceil(error.retryAfterSec)));
  return reply.code(error.status).type('application/json').send(error.toBody());
}

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_request',
};

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/**
 * Maps anything a route or Fastify throws onto the shared error codes: Fastify's own errors
 * by their code or status, everything else through toServiceError (`unavailable` when a
 * dependency cannot answer, `internal` otherwise).
 */
export function toHttpError(err: unknown): ChatError {
  if (err instanceof ChatError) return err;
  const fe = err as Partial<FastifyError> & { validation?: Partial<ValidationIssue>[] };
  if (Array.isArray(fe.validation)) {
    const fields: FieldIssue[] = fe.validation.map((v) => ({
      field: v.instancePath || '/',
      message: v.message ?? 'invalid',
    }));
    const where = fe.validationContext ?? 'request';
    const first = fe.validation[0];
    const message = first
      ? `${where}${first.parentPath ?? first.instancePath ?? ''}: ${first.message ?? 'invalid'}`
      : `invalid ${where}`;
    return new ChatError('validation_failed', message, { fields });
  }
  if (fe.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new ChatError('bad_request', `a path segment is longer than ${MAX_PARAM_LENGTH} characters`);
  }
  if (fe.code === 'FST_ERR_BAD_URL')
    return new ChatError('bad_request', 'the path is not valid URL encoding');
  const byCode = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (byCode) return new ChatError(byCode, fe.message);
  if (err instanceof SyntaxError) return new ChatError('bad_request', 'body is not valid JSON');
  const status = fe.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new ChatError(STATUS_CODES[status] ?? 'bad_request', fe.message);
  }
  return toServiceError(err);
}

/** Fastify's `maxParamLength` (its default): a longer path parameter is a `bad_request`. */
const MAX_PARAM_LENGTH = 100;

/**
 * What to answer when Node's HTTP parser rejects a request before Fastify sees it (malformed
 * HTTP, headers over Node's limit, a request not received in time); undefined when the
 * connection is already gone. The status is always that of the code, as for every error.
 */
export function clientErrorAnswer(err: NodeJS.ErrnoException): ChatError | undefined {
  if (err.code === 'ECONNRESET') return undefined;
  if (err.code === 'HPE_HEADER_OVERFLOW')
    return new ChatError('bad_request', 'the request headers are too large');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new ChatError('bad_request', 'the request was not received in time');
  }
  return new ChatError('bad_request', 'the request is not valid HTTP');
}

function answerClientError(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  const error = socket.destroyed ? undefined : clientErrorAnswer(err);
  if (!error) return;
  this.log.debug({ err }, 'client error');
  if (!socket.writable) {
    socket.destroy(err);
    return;
  }
  const body = JSON.stringify(error.toBody());
  socket.end(
    [
      `HTTP/1.1 ${error.status} ${HTTP_REASONS[error.status]}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'X-Content-Type-Options: nosniff',
      'Connection: close',
      '',
      body,
    ].join('\r\n'),
  );
  // A client that never reads its answer must not hold the socket open.
  setTimeout(() => socket.destroy(), 5000).unref();
}

function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const error = toHttpError(err);
  if (error.code === 'internal') request.log.error({ err }, 'unhandled error');
  else if (error.code === 'unavailable' && error !== err) request.log.warn({ err }, 'dependency unavailable');
  sendError(reply, error);
}

export interface CommonRoutesOptions {
  /** Route prefix of the service, e.g. `/api/auth`. */
  prefix: string;
  /** Readiness checks; each returns normally when healthy. */
  readiness: Record<string, () => Promise<unknown>>;
  /** OpenAPI title and description. */
  title: string;
  description: string;
}

/**
 * Registers OpenAPI docs (`{prefix}/docs`), `health`, `ready` and `metrics` in the
 * calling plugin's scope. Call it first in a service plugin: the docs collect the routes
 * registered after it in the same scope.
 *
 * It also guards the scope's internal routes — `{prefix}/metrics` and every route
 * registered after it under `{prefix}/internal/` — so that only direct requests from
 * inside the deployment reach them (see HttpServerOptions.internalNetworks); any other
 * request gets the same `not_found` as a route that does not exist.
 */
export async function registerCommonRoutes(app: HttpServer, options: CommonRoutesOptions): Promise<void> {
  const { prefix } = options;
  const networks = internalNetworksOf.get(app.server) ?? new InternalNetworks();
  const isInternal = (route: string) =>
    route === `${prefix}/metrics` || route.startsWith(`${prefix}/internal/`);
  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.url;
    if (route === undefined || !isInternal(route)) return;
    if (networks.admits(request.raw.socket.remoteAddress, request.headers)) return;
    return sendError(reply, noRoute(request));
  });
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: options.title, description: options.description, version: '1.0.0' },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: `${prefix}/docs` });

  app.get(`${prefix}/health`, { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get(`${prefix}/ready`, { schema: { hide: true } }, async (_request, reply) => {
    const checks: Record<string, 'ok' | 'failing'> = {};
    await Promise.all(
      Object.entries(options.readiness).map(async ([name, check]) => {
        try {
          await withDeadline(check(), 2000, () => new Error('timed out after 2000 ms'));
          checks[name] = 'ok';
        } catch (err) {
          app.log.warn({ err, check: name }, 'readiness check failed');
          checks[name] = 'failing';
        }
      }),
    );
    const ready = Object.values(checks).every((c) => c === 'ok');
    if (!ready) return sendError(reply, new ChatError('unavailable', `not ready: ${JSON.stringify(checks)}`));
    return { status: 'ready', checks };
  });
  app.get(`${prefix}/metrics`, { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metricsRegistry.contentType);
    return metricsRegistry.metrics();
  });
}

/** Connections still open this long after an HTTP server began to close are cut, ms. */
export const HTTP_CLOSE_GRACE_MS = 5000;

/**
 * Closes an HTTP server: requests under way get `graceMs` to finish, then every connection
 * still open is cut, so a client holding a connection (a request that never ends) cannot
 * hold up the process's stop.
 */
export async function closeHttpServer(
  app: { close(): Promise<unknown>; server: { closeAllConnections(): void } },
  graceMs = HTTP_CLOSE_GRACE_MS,
): Promise<void> {
  const cut = setTimeout(() => app.server.closeAllConnections(), graceMs);
  cut.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}
