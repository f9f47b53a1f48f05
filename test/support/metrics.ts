import { MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';

/** A metric reader for tests: collects on demand. */
export class CollectingReader extends MetricReader {
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  /** Every metric collected now, by instrument name. */
  async byName(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await this.collect();
    return new Map(resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics).map((metric) => [metric.descriptor.name, metric]));
  }
  /** The data points of instrument `name`, with plain attributes. */
  async points(name: string): Promise<Array<{ attributes: Record<string, unknown>; value: unknown }>> {
    const metric = (await this.byName()).get(name);
    return (metric?.dataPoints ?? []).map((point) => ({ attributes: { ...point.attributes }, value: point.value }));
  }
}
