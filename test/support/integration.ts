import { inject } from 'vitest';

/** Kafka bootstrap servers from the global setup, or `undefined` when none could be had (never in CI). */
export const kafkaBrokers = (): string[] | undefined => inject('kafkaBrokers')?.split(',');
/** AMQP URL from the global setup, or `undefined` when none could be had (never in CI). */
export const amqpUrl = (): string | undefined => inject('amqpUrl');
