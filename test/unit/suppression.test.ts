import { ROOT_CONTEXT } from '@opentelemetry/api';
import { isTracingSuppressed as coreIsSuppressed, suppressTracing as coreSuppress } from '@opentelemetry/core';
import { describe, expect, it } from 'vitest';
import { isTracingSuppressed, suppressTracing } from '../../src/core/suppression.ts';

describe('the suppress-tracing flag, without a dependency on @opentelemetry/core', () => {
  it('is the very flag core reads and writes, both ways', () => {
    expect(isTracingSuppressed(ROOT_CONTEXT)).toBe(false);
    expect(isTracingSuppressed(coreSuppress(ROOT_CONTEXT))).toBe(true);
    expect(coreIsSuppressed(suppressTracing(ROOT_CONTEXT))).toBe(true);
    expect(coreIsSuppressed(ROOT_CONTEXT)).toBe(false);
  });
});
