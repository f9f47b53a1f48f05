/**
 * What a handler wrapper costs on the consumer, message by message: the time from the
 * client invoking its callback to the user handler starting, plus the time from the user
 * handler's end to the callback returning (for an async callback: to its promise settling,
 * which is when the client moves on). Untraced, the callback is the handler itself, so the
 * difference between a traced and the untraced variant is what tracing adds.
 *
 * The probe sits at the client's own call site (see `wrap`), outside every wrapper — the
 * official instrumentations wrap the callback inside `consume`/`run`, tracebus in its
 * decorators — so all variants are measured from the same point.
 */
export class WrapperProbe {
  /** Off during the throughput passes, so that they carry none of the probe's own cost. */
  enabled = false;
  #samples: Float64Array;
  #count = 0;
  #started = 0n;
  #ended = 0n;

  constructor(capacity: number) {
    this.#samples = new Float64Array(capacity);
  }

  /** Marks the start of the user handler. */
  handlerStarted(): void {
    if (this.enabled) this.#started = process.hrtime.bigint();
  }

  /** Marks the end of the user handler. */
  handlerEnded(): void {
    if (this.enabled) this.#ended = process.hrtime.bigint();
  }

  #record(entered: bigint, returned: bigint): void {
    if (this.#count < this.#samples.length) this.#samples[this.#count++] = Number(this.#started - entered + (returned - this.#ended));
  }

  /** Wraps a callback the client invokes synchronously (amqplib's consumer callback). */
  wrapSync<A extends unknown[], R>(callback: (...args: A) => R): (...args: A) => R {
    const probe = this;
    return function probed(this: unknown, ...args: A): R {
      if (!probe.enabled) return callback.apply(this, args);
      const entered = process.hrtime.bigint();
      const result = callback.apply(this, args);
      probe.#record(entered, process.hrtime.bigint());
      return result;
    };
  }

  /** Wraps a callback whose promise the client awaits (kafkajs's eachMessage). */
  wrapAsync<A extends unknown[]>(callback: (...args: A) => unknown): (...args: A) => unknown {
    const probe = this;
    return function probed(this: unknown, ...args: A): unknown {
      if (!probe.enabled) return callback.apply(this, args);
      const entered = process.hrtime.bigint();
      return Promise.resolve(callback.apply(this, args)).then(() => probe.#record(entered, process.hrtime.bigint()));
    };
  }

  /** Percentiles of the recorded overhead, in microseconds. */
  percentiles(): { samples: number; p50: number; p99: number } {
    const sorted = this.#samples.slice(0, this.#count).sort();
    const at = (q: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1e3);
    return { samples: sorted.length, p50: at(0.5), p99: at(0.99) };
  }
}
