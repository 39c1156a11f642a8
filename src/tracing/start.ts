import type { Attributes, Context } from '@opentelemetry/api';
import type { ExportResultCode } from '@opentelemetry/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace-node';
import type { TracingConfig } from '../config.js';
import { VERSION } from '../version.js';
import type { Started, Tracing } from './tracing.js';

const WARN_EVERY_MS = 60_000;

/**
 * Starts OpenTelemetry tracing (TracingConfig: OTEL_* asked for it): the SDK
 * is imported here, at start, and nowhere else. Spans are batched and POSTed
 * to the OTLP/HTTP receiver; the SDK reads its other standard variables itself
 * (OTEL_TRACES_SAMPLER and _ARG, OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS,
 * _TIMEOUT, _COMPRESSION; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
 * over the defaults below). Nothing is registered globally: the spans, their
 * context and the W3C propagator belong to this server, so other code in the
 * process (or a second server, as in tests) is left alone.
 */
export async function startTracing(config: TracingConfig): Promise<Tracing> {
  const [api, core, hooks, sdk, resources, otlp] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    config.protocol === 'http/json' ? import('@opentelemetry/exporter-trace-otlp-http') : import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  let log: { warn(object: object, message: string): void } | null = null;
  let warned = -Infinity;
  const exporter = reportingFailures(new otlp.OTLPTraceExporter({ url: config.tracesUrl }), core.ExportResultCode.FAILED, (error) => {
    if (!log || Date.now() - warned < WARN_EVERY_MS) return;
    warned = Date.now();
    log.warn({ tracesUrl: config.tracesUrl, error: error?.message }, 'traces could not be exported to the OTLP receiver (said at most once a minute)');
  });
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': 'serika', 'service.version': VERSION, 'process.pid': process.pid }))
    .merge(resources.detectResources({ detectors: [resources.hostDetector, resources.envDetector] }));
  const provider = new sdk.NodeTracerProvider({ resource, spanProcessors: [new sdk.BatchSpanProcessor(exporter)] });
  const tracer = provider.getTracer('serika', VERSION);
  // AsyncLocalStorage: the active span follows a request through its promises and timers.
  const contexts = new hooks.AsyncLocalStorageContextManager().enable();
  const propagator = new core.W3CTraceContextPropagator();
  const started = (name: string, kind: number, attributes: Attributes, parent: Context): Started => {
    const span = tracer.startSpan(name, { kind, attributes }, parent);
    return { span, context: api.trace.setSpan(parent, span) };
  };

  return {
    serverSpan: (name, headers, attributes) => started(name, api.SpanKind.SERVER, attributes, propagator.extract(api.ROOT_CONTEXT, headers, api.defaultTextMapGetter)),
    clientSpan(name, attributes) {
      const parent = contexts.active();
      return api.trace.getSpan(parent) ? started(name, api.SpanKind.CLIENT, attributes, parent) : null;
    },
    run: (context, fn) => contexts.with(context, fn),
    inject: (context, headers) => propagator.inject(context, headers, api.defaultTextMapSetter),
    fail(span, errorType) {
      span.setStatus({ code: api.SpanStatusCode.ERROR });
      span.setAttribute('error.type', errorType);
    },
    logTo(logger) {
      log = logger;
    },
    async shutdown() {
      await provider.shutdown();
      contexts.disable();
    },
  };
}

/** The exporter, telling onFailure of every batch that did not reach the receiver (the SDK drops it silently). */
function reportingFailures(exporter: SpanExporter, failed: ExportResultCode, onFailure: (error: Error | undefined) => void): SpanExporter {
  return {
    export(spans, done) {
      exporter.export(spans, (result) => {
        if (result.code === failed) onFailure(result.error);
        done(result);
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}
