import type { IncomingHttpHeaders } from 'node:http';
import type { Attributes, Context, Span } from '@opentelemetry/api';

/** A span and the context in which work below it runs. */
export interface Started {
  span: Span;
  context: Context;
}

/**
 * What Serika's code asks of OpenTelemetry, in its own few words. Only
 * start.ts loads OpenTelemetry (and only when OTEL_* asks for traces); every
 * other module imports types alone and holds a Tracing or null, so with
 * tracing off no OpenTelemetry module is ever loaded and nothing is measured.
 */
export interface Tracing {
  /** A SERVER span for an incoming request, the child of the span its `traceparent` names (W3C Trace Context), if any. */
  serverSpan(name: string, headers: IncomingHttpHeaders, attributes: Attributes): Started;
  /**
   * A CLIENT span (a statement, an upstream call), the child of the active span; null when no span is active:
   * background work (the invalidation feed's polls, the pruner) would otherwise be a trace of its own every 100 ms.
   */
  clientSpan(name: string, attributes: Attributes): Started | null;
  /** Runs fn with the context active, and whatever it starts (promises, timers) after it. */
  run<T>(context: Context, fn: () => T): T;
  /** Adds `traceparent` for the context's span to outgoing headers. */
  inject(context: Context, headers: Record<string, string>): void;
  /** Marks a span failed (status ERROR, `error.type`), as the HTTP and database conventions ask for server errors. */
  fail(span: Span, errorType: string): void;
  /** Says what keeps spans from reaching the receiver (at most once a minute). */
  logTo(log: { warn(object: object, message: string): void }): void;
  /** Exports what is still buffered and stops. */
  shutdown(): Promise<void>;
}

/** What failed, for `error.type`: an error's code (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, PostgreSQL's SQLSTATE) or its class name. */
export function errorTypeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' || typeof code === 'number') return String(code);
  return error instanceof Error ? error.name : 'error';
}
