import { describe } from './checks.ts';
import { isPromiseLike } from './lifecycle.ts';
import { reportProblem } from './warnings.ts';

/**
 * What a consumer does with the trace context that arrives in a message:
 * - `parent` (default): the consumer span is a child of the producer's span;
 * - `link`: the consumer span starts a new trace with a link to the producer's span;
 *   the message's baggage is kept;
 * - `root`: the incoming context is ignored entirely (no parent, no link, no baggage),
 *   for producers you do not trust.
 */
export type IncomingContextPolicy = 'parent' | 'link' | 'root';

/** A fixed policy, or one chosen per message. */
export type PolicyOption<M> = IncomingContextPolicy | ((message: M) => IncomingContextPolicy);

const POLICIES: ReadonlySet<string> = new Set(['parent', 'link', 'root']);

/**
 * Throws when a configured policy is not one of the three or a function that chooses one
 * synchronously, naming the fix.
 */
export function assertPolicyOption(policy: unknown): void {
  if (policy === undefined) return;
  if (typeof policy === 'function') {
    // An async function answers with a promise, after the span had to start: it could never choose.
    if (policy.constructor?.name === 'AsyncFunction') throw new TypeError("tracebus: policy must choose synchronously, a function (message) => 'parent' | 'link' | 'root'; got an async function");
    return;
  }
  if (typeof policy !== 'string' || !POLICIES.has(policy)) {
    throw new TypeError(`tracebus: policy must be 'parent', 'link', 'root' or a function (message) => policy; got ${describe(policy)}`);
  }
}

/** The policy for `message`: a policy function's answer, or `parent` when it throws or answers nonsense (reported to `diag`). */
export function resolvePolicy<M>(policy: PolicyOption<M> | undefined, message: M): IncomingContextPolicy {
  if (policy === undefined || policy === 'parent') return 'parent';
  if (policy === 'link' || policy === 'root') return policy;
  // An adapter that did not check its policy (assertPolicyOption) passed something else: as a
  // policy function's nonsense answer, the message keeps its parent.
  if (typeof policy !== 'function') return 'parent';
  try {
    const chosen: unknown = policy(message);
    if (chosen === 'parent' || chosen === 'link' || chosen === 'root') return chosen;
    if (isPromiseLike(chosen)) {
      // A policy is chosen before the span starts: an async function's answer comes too late,
      // and its rejection, left unhandled, would end the process.
      Promise.resolve(chosen).then(undefined, (error: unknown) => reportProblem('TRACEBUS_HOOK_FAILED', 'tracebus: the policy function rejected', error, 'error'));
      reportProblem('TRACEBUS_HOOK_FAILED', "tracebus: the policy function returned a promise; a policy must be chosen synchronously; using 'parent'", undefined, 'error');
    } else reportProblem('TRACEBUS_HOOK_FAILED', `tracebus: the policy function returned ${safeJson(chosen)}; using 'parent'`, undefined, 'error');
  } catch (error) {
    reportProblem('TRACEBUS_HOOK_FAILED', "tracebus: the policy function threw; using 'parent'", error, 'error');
  }
  return 'parent';
}

/** `value` as JSON for a message, or its type when it has none (a function, a bigint, a cycle). */
function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
