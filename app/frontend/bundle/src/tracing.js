// The page's own spans (service frontend-browser), bundled into html/otel-web.js by build.mjs.
//
// Best effort: the task manager (app.js) works without this file, and this file never stops the
// page — any error while starting leaves the page untraced (one console warning), and spans that
// cannot be exported (collector down, front refusing) are dropped by the batch processor.
//
// - Spans go to /otlp/v1/traces on the page's own origin; the front (nginx) passes them to the
//   collector's OTLP/HTTP receiver with a size and rate limit. No CORS, no other host.
// - fetch calls to /api/ carry the W3C traceparent of their fetch span, so the backend's server
//   span is that span's child: click/submit/change span -> fetch span -> Flask -> SQL.
// - window.labTracing tells app.js that tracing runs (it then leaves traceparent to the
//   instrumentation) and lets a test flush the spans instead of waiting for the next batch.
import { ZoneContextManager } from "@opentelemetry/context-zone";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { DocumentLoadInstrumentation } from "@opentelemetry/instrumentation-document-load";
import { FetchInstrumentation } from "@opentelemetry/instrumentation-fetch";
import { UserInteractionInstrumentation } from "@opentelemetry/instrumentation-user-interaction";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { WebTracerProvider } from "@opentelemetry/sdk-trace-web";

export const SERVICE_NAME = "frontend-browser";
export const EXPORT_PATH = "/otlp/v1/traces";
// Export at most 50 spans per request, one batch a second: a page's bodies stay far below the
// front's limit on /otlp/v1/traces (256 KiB) and its rate (5 requests/s per client).
const BATCH = { scheduledDelayMillis: 1000, maxExportBatchSize: 50, maxQueueSize: 500, exportTimeoutMillis: 5000 };
// A short token for the values the front renders into /tracing-config.js (anything else: default).
const TOKEN = /^[A-Za-z0-9._-]{1,64}$/;

function pageInstanceId() {
  // crypto.randomUUID exists only in secure contexts; a lab page is often plain http on a host name
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function settings() {
  const given = (typeof window.LAB_TRACING === "object" && window.LAB_TRACING) || {};
  const pick = (value, fallback) => (typeof value === "string" && TOKEN.test(value) ? value : fallback);
  return {
    serviceVersion: pick(given.serviceVersion, "unknown"),
    environment: pick(given.environment, "lab"),
  };
}

function start() {
  const config = settings();
  const resource = resourceFromAttributes({
    "service.name": SERVICE_NAME,
    "service.version": config.serviceVersion,
    "service.instance.id": pageInstanceId(),
    "deployment.environment": config.environment,
    "deployment.environment.name": config.environment,
    "user_agent.original": navigator.userAgent,
  });
  const exporter = new OTLPTraceExporter({ url: EXPORT_PATH, timeoutMillis: BATCH.exportTimeoutMillis });
  const provider = new WebTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter, BATCH)] });
  provider.register({ contextManager: new ZoneContextManager(), propagator: new W3CTraceContextPropagator() });
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new DocumentLoadInstrumentation(),
      // the first request a handler makes is a child of the interaction's span
      new UserInteractionInstrumentation({ eventNames: ["click", "submit", "change"] }),
      new FetchInstrumentation({
        // the exporter's own requests are never traced (it also bypasses the wrapper)
        ignoreUrls: [/\/otlp\//],
        clearTimingResources: true,
      }),
    ],
  });
  return {
    active: true,
    serviceName: SERVICE_NAME,
    exportPath: EXPORT_PATH,
    // resolves when every ended span has been handed to the exporter (and it answered or gave up)
    flush: () => provider.forceFlush().then(() => true, () => false),
  };
}

try {
  window.labTracing = Object.freeze(start());
} catch (error) {
  // tracing is best effort: the page keeps working untraced
  console.warn("frontend-browser tracing disabled:", error);
}
