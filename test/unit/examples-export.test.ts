import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runOrderPipeline } from '../../examples/demo/pipeline.ts';
import { collectorsFromEnv, exported, exportProcessors, FLUSH_TIMEOUT_MS } from '../../examples/support/export.ts';

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const body = async (request: IncomingMessage) => {
  let text = '';
  for await (const chunk of request) text += chunk;
  return text;
};

const keys = ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_ZIPKIN_ENDPOINT', 'OTEL_BSP_SCHEDULE_DELAY'] as const;
let saved: Partial<Record<(typeof keys)[number], string>>;
beforeEach(() => {
  saved = Object.fromEntries(keys.map((key) => [key, process.env[key]]));
  for (const key of keys) delete process.env[key];
});
afterEach(() => {
  for (const key of keys) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  vi.restoreAllMocks();
});

describe('examples/support/export.ts: the collector the environment names', () => {
  it('follows OTEL_TRACES_EXPORTER, and without it exports over OTLP only when an OTLP endpoint is set', () => {
    expect(collectorsFromEnv({})).toEqual([]);
    expect(collectorsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual([{ kind: 'otlp', endpoint: 'http://collector:4318/v1/traces' }]);
    expect(collectorsFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/traces' })).toEqual([{ kind: 'otlp', endpoint: 'http://collector:4318/traces' }]);
    expect(collectorsFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' })).toEqual([{ kind: 'zipkin', endpoint: 'http://localhost:9411/api/v2/spans' }]);
    expect(collectorsFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: 'http://zipkin:9411/api/v2/spans' })).toEqual([{ kind: 'zipkin', endpoint: 'http://zipkin:9411/api/v2/spans' }]);
    expect(collectorsFromEnv({ OTEL_TRACES_EXPORTER: 'otlp, zipkin' }).map(({ kind }) => kind)).toEqual(['otlp', 'zipkin']);
    expect(collectorsFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual([]);
  });
});

describe('examples/support/export.ts: a collector that cannot be reached', () => {
  for (const kind of ['otlp', 'zipkin'] as const) {
    it(`${kind}: the example gets its spans, exported() resolves in bounded time, and one warning names the endpoint`, async () => {
      const port = await closedPort();
      if (kind === 'otlp') process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`;
      else Object.assign(process.env, { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: `http://127.0.0.1:${port}/api/v2/spans` });
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});

      const { spans } = await runOrderPipeline(exportProcessors);
      expect(spans).toHaveLength(10);
      const started = Date.now();
      expect(await exported()).toEqual([]);
      // Bounded by the flush timeout, not by the collector: generous, as this machine is noisy.
      expect(Date.now() - started).toBeLessThan(2 * FLUSH_TIMEOUT_MS);
      // Again in the same process: no second warning, and no wait on the collector.
      const again = await runOrderPipeline(exportProcessors);
      expect(again.spans).toHaveLength(10);
      expect(await exported()).toEqual([]);

      expect(warn).toHaveBeenCalledTimes(1);
      const [message] = warn.mock.calls[0]!;
      expect(message).toMatch(new RegExp(`^warning: could not export spans to .* at http://127\\.0\\.0\\.1:${port}/.* \\(.*ECONNREFUSED.*\\): the example runs to its end, but its spans are not exported\\.`));
    }, 20_000);
  }
});

interface PostedSpan {
  traceId: string;
  id: string;
  parentId?: string;
  localEndpoint: { serviceName: string };
}

/** A stand-in for Zipkin's collector: keeps what is posted, answers after `delayMs`. */
async function fakeZipkin(delayMs = 0) {
  const posts: PostedSpan[] = [];
  const server = createServer(async (request, response) => {
    const spans = JSON.parse(await body(request)) as PostedSpan[];
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    posts.push(...spans);
    response.writeHead(request.url === '/api/v2/spans' && request.method === 'POST' ? 202 : 404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/spans`;
  return { posts, endpoint, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('examples/support/export.ts: Zipkin', () => {
  it('receives every span after exported(), with its trace, parent and service', async () => {
    const zipkin = await fakeZipkin();
    try {
      const { endpoint, posts: sent } = zipkin;
      Object.assign(process.env, { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: endpoint });
      const warn = vi.spyOn(console, 'warn');
      const { spans } = await runOrderPipeline(exportProcessors);
      expect(await exported()).toEqual([{ kind: 'zipkin', endpoint }]);
      expect(warn).not.toHaveBeenCalled();
      const expected = spans.map((span) => ({
        traceId: span.spanContext().traceId,
        id: span.spanContext().spanId,
        parentId: span.parentSpanContext?.spanId,
        service: span.resource.attributes['service.name'],
      }));
      const received = sent.map(({ traceId, id, parentId, localEndpoint }) => ({ traceId, id, parentId, service: localEndpoint.serviceName }));
      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      expect(received.sort(byId)).toEqual(expected.sort(byId));
    } finally {
      await zipkin.close();
    }
  });

  it('exported() also waits for an export the batch processor started on its own', async () => {
    // The pipeline ends its spans within a few ms; the batch processor sends them all 150 ms
    // after the first, and Zipkin answers after 500 ms. exported() is called while that export
    // is under way, with no span left in the processor's queue.
    const zipkin = await fakeZipkin(500);
    try {
      const { endpoint, posts } = zipkin;
      Object.assign(process.env, { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '150' });
      const { spans } = await runOrderPipeline(exportProcessors);
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(posts).toHaveLength(0);
      expect(await exported()).toEqual([{ kind: 'zipkin', endpoint }]);
      expect(posts.map(({ id }) => id).sort()).toEqual(spans.map((span) => span.spanContext().spanId).sort());
    } finally {
      await zipkin.close();
    }
  });
});
