/**
 * The markdown of docs/benchmarks.md, written from the results run.ts measured
 * (results.ts). Nothing here measures: the same results always give the same text.
 */
import { chartSummary } from './chart.ts';
import { memorySummary } from './memory-report.ts';
import { STACK_PARTS } from './profile-summary.ts';
import { CONFIRM_FLOOR, median, microsPerMessage as us, type BenchResults, type ProfiledRun, type Sample, type SectionResult } from './results.ts';
import { isolatedAdded, isolatedOwnTime, isolatedSummary, isolatedW3c, type IsolatedOwnTime } from './isolated-report.ts';
import { wireSummary } from './wire-report.ts';

/**
 * A target in a few words, for the table at the head of the report's targets: what it asks,
 * what the run measured, and, for a miss that no tracer could avoid on this machine, why.
 */
export interface Brief {
  goal: string;
  measured: string;
  /** Set on a missed target only when every half of it that was missed is out of any tracer's reach here: the reason. */
  outOfReach?: string;
}

/** A target a section checks, and whether the run met it (`undefined`: the run could not tell). */
export interface Target {
  section: string;
  text: string;
  met: boolean | undefined;
  brief?: Brief;
}

/** The markdown of one section, and the targets it checked, in the order it states them. */
export interface SectionReport {
  lines: string[];
  targets: Target[];
}

/** States a target: the text with its verdict, recording the target (and its brief) for the report's lists. */
type StateTarget = (text: string, met: boolean | undefined, brief?: Brief) => string;

/** One half of a two-part target: whether it was met, and why no tracer meets it here when that is so. */
interface Half {
  met: boolean;
  outOfReach: string | undefined;
}

/**
 * Why a missed target is out of any tracer's reach here: the reasons of its missed halves, when
 * every one of them has one; `undefined` when some missed half is tracebus's own to close.
 */
export function outOfReach(halves: readonly Half[]): string | undefined {
  const missed = halves.filter((half) => !half.met);
  if (missed.length === 0 || missed.some((half) => half.outOfReach === undefined)) return undefined;
  return missed.map((half) => half.outOfReach).join('; ');
}

const pct = (value: number) => `${(value * 100).toFixed(1)}%`;
const times = (value: number) => `${value.toFixed(2)}×`;
const verdict = (met: boolean | undefined) => (met === undefined ? '**not measured**' : met ? '**met**' : '**missed**');
const samplesOf = (section: SectionResult, variant: string) => section.samples[variant]!;
const medianOf = (section: SectionResult, variant: string, value: (sample: Sample) => number) => median(samplesOf(section, variant).map(value));
/** Median wall-clock µs per message of a variant. */
const medianUsOf = (section: SectionResult, variant: string) => medianOf(section, variant, us);
/** Median CPU µs per message of a variant: the broker client's process, or the in-process bus's. */
const cpuOf = (section: SectionResult, variant: string) => medianOf(section, variant, (sample) => Number(sample.cpuMicrosPerMessage));
/** The CPU µs per message a variant adds to the section's untraced run. */
const cpuAddedOf = (section: SectionResult, variant: string) => cpuOf(section, variant) - cpuOf(section, 'untraced');
const has = (section: SectionResult, variant: string) => section.samples[variant] !== undefined;
/** A ratio taken in each round alone: its lowest and highest, and how many rounds gave none. */
export interface RoundRatios {
  /** `; round by round … to …`, or empty when the section has fewer than two rounds with a ratio. */
  text: string;
  low: number | undefined;
  high: number | undefined;
  /** Rounds that gave no ratio (tracebus or the floor measured no more CPU than the untraced run). */
  without: number;
}

/**
 * The lowest and highest of a ratio taken round by round (`ratioOf(round)`; a round runs every
 * variant of the section once, one after the other): how far this machine's noise moves a
 * ratio whose median a target line gives. No range when the section has fewer than two rounds.
 */
function roundRatios(section: SectionResult, variants: readonly string[], ratioOf: (round: number) => number | undefined, format: (value: number) => string, against = 'the floor'): RoundRatios {
  const none: RoundRatios = { text: '', low: undefined, high: undefined, without: 0 };
  const rounds = Math.min(...variants.map((variant) => samplesOf(section, variant).length));
  if (!(rounds >= 2)) return none;
  const ratios: number[] = [];
  let without = 0;
  for (let round = 0; round < rounds; round++) {
    const ratio = ratioOf(round);
    if (ratio === undefined) without++;
    else ratios.push(ratio);
  }
  if (ratios.length === 0 || !ratios.every(Number.isFinite)) return none;
  const [low, high] = [Math.min(...ratios), Math.max(...ratios)];
  const left = without === 0 ? '' : `; in ${without} of ${rounds} rounds ${against} measured no more CPU than the untraced run, which leaves no ratio`;
  return { text: `; round by round ${format(low)} to ${format(high)}${left}`, low, high, without };
}
const cpuIn = (section: SectionResult, variant: string, round: number) => Number(samplesOf(section, variant)[round]!.cpuMicrosPerMessage);
const usIn = (section: SectionResult, variant: string, round: number) => us(samplesOf(section, variant)[round]!);
/**
 * Round by round, what `variant` adds to the untraced run's CPU over what `floor` adds; no
 * ratio for a round in which either measured no more CPU than the untraced run (noise larger
 * than what it adds: a ratio of zero or below would read as a cost below any line).
 */
const addedRounds = (section: SectionResult, variant: string, floor: string, against = 'the floor') =>
  roundRatios(
    section,
    ['untraced', variant, floor],
    (round) => {
      const untraced = cpuIn(section, 'untraced', round);
      const floorAdded = cpuIn(section, floor, round) - untraced;
      const added = cpuIn(section, variant, round) - untraced;
      return floorAdded > 0 && added > 0 ? added / floorAdded : undefined;
    },
    times,
    `tracebus or ${against}`,
  );
/**
 * The same ratio measured without a client or a broker around it: tracing's own work on the
 * transport's producer and consumer, on the isolated section's no-op clients, where the
 * variants alternate within each of its processes and the client's and the broker's noise is absent.
 */
function aloneText(alone: ReturnType<typeof isolatedAdded>): string {
  if (alone === undefined) return '';
  return `; on clients that do nothing (isolated section), tracing's work for \`${alone.producerOperation}\` + \`${alone.consumerOperation}\` costs tracebus ${alone.tracebus.toFixed(2)} µs of CPU per message and the floor ${alone.floor.toFixed(2)} µs: ${times(alone.tracebus / alone.floor)}${spreadText(alone.floorSpread)}`;
}

/** `; process by process … to …`: how far an isolated ratio moved between the section's processes. */
const spreadText = (spread: { low: number; high: number } | undefined) => (spread === undefined ? '' : `, process by process ${times(spread.low)} to ${times(spread.high)}`);

/**
 * Why an own self time over 1 µs may be this machine's: the least any tracer that records the
 * floors' spans and propagates as the W3C test suite requires does in its own code. That is
 * the floors' own code without their loops (taken as the loops driving tracebus, which do
 * the same) plus W3C-conformant propagators: @opentelemetry/core's diverge from the suite
 * (docs/w3c.md), so such a tracer brings its own, and tracebus's are the fastest measured
 * here (the isolated section's propagators alone). Over 1 µs, no such tracer meets the target
 * on this machine; the rest is how far tracebus is from that least.
 */
export function ownTimeBound(alone: IsolatedOwnTime): string {
  const glue = alone.floor - alone.loop;
  const least = leastOwnTime(alone);
  const verdict = overOneMicrosecond(least) ? ': more than 1 µs, so no such tracer meets this target on this machine' : '';
  return `; the least a tracer that records the floors' spans and propagates as the W3C test suite requires does in its own code (core's propagators diverge from the suite, docs/w3c.md, so such a tracer brings its own; tracebus's are the fastest measured here): the floors' own code without their loops, ${glue.toFixed(2)} µs (the loops taken as the ${alone.loop.toFixed(2)} µs of those driving tracebus), plus tracebus's W3C propagators, ${least.toFixed(2)} µs in all${verdict}; tracebus's code is ${(alone.total - least).toFixed(2)} µs above that least`;
}

/** The least own time of a tracer that records the floors' spans and propagates as the W3C suite requires (see {@link ownTimeBound}). */
const leastOwnTime = (alone: IsolatedOwnTime) => alone.floor - alone.loop + alone.w3c;

/** Whether `micros` is over 1 µs as the report prints it (two decimals): a least shown as 1.00 µs puts nothing out of reach. */
const overOneMicrosecond = (micros: number) => Number(micros.toFixed(2)) > 1;

/**
 * The verdict on an added-CPU ratio (`ratio`, of the medians) against `line`. The broker run
 * decides, unless its rounds cannot: their ratios fall on both sides of the line, or a round
 * gave none (the noise outweighed all the floor adds). With five rounds, the range of the
 * rounds holds the median of the ratio's distribution with 94% confidence
 * (1 − 2 × 0.5⁵), so a line inside it is a line this run cannot place its median against.
 * That happens where the client's own CPU per message moves from one process to the next by
 * more than tracing adds (on Kafka single sends, the untraced producer alone measured 84 to 96
 * µs per message in five processes, against the 5–10 µs tracing adds); the same ratio on the
 * isolated section's no-op clients, where the variants alternate within each process, then
 * decides: its median over the processes, as what V8 makes of the hot paths differs between them.
 */
export function addedVerdict(ratio: number | undefined, rounds: RoundRatios, alone: { tracebus: number; floor: number } | undefined, line: number, against = 'the floor', strict = false): { met: boolean; why: string } {
  const within = (value: number) => (strict ? value < line : value <= line);
  const straddles = rounds.low !== undefined && rounds.high !== undefined && within(rounds.low) && !within(rounds.high);
  // A median ratio of zero or below: tracebus measured no more CPU than the untraced run, noise
  // larger than what tracing adds, not a cost below the line.
  const negative = ratio !== undefined && ratio <= 0;
  const inconclusive = ratio === undefined || negative || straddles || rounds.without > 0;
  if (!inconclusive || alone === undefined) return { met: ratio !== undefined && !negative && within(ratio), why: '' };
  const cause = straddles ? `the rounds fall on both sides of ${times(line)}` : negative ? 'tracebus measured no more CPU than the untraced run' : `tracebus or ${against} measured no more CPU than the untraced run in some rounds`;
  return {
    met: within(alone.tracebus / alone.floor),
    why: `; ${cause}, so this run cannot place its median against the line: the ratio on clients that do nothing decides`,
  };
}
/** What a missed target's line adds: where to look for the reason. */
const seeProfile = (section: SectionResult, met: boolean) => (met || section.profiles === undefined ? '' : "; see the section's profile");

/**
 * The variants issue 14's targets compare, per section: tracebus, its floors (the one that
 * records what semantic conventions require, and the attribute-free one), their sampled
 * versions, and the variant whose profile shows tracebus's own time. The in-process bus's
 * floors are the hand-written ones around the bus.
 */
function targetVariants(section: SectionResult) {
  return section.name === 'inprocess'
    ? { tracebus: 'sdk', semconvFloor: 'bus+floor+attributes', floor: 'bus+floor', sampled: 'sdk@1%', sampledFloor: 'bus+floor+attributes@1%' }
    : { tracebus: 'tracebus', semconvFloor: 'floor+semconv', floor: 'floor', sampled: 'tracebus@1%', sampledFloor: 'floor+semconv@1%' };
}

/**
 * Issue 14's targets, as far as the section ran the variants they compare:
 * (a) ahead of the official instrumentation: ≥ 115% of its throughput and less added CPU;
 * (b) close to the floor: added CPU ≤ 1.2× the semconv floor's (the attribute-free floor's beside);
 * (c) tracebus's own self time ≤ 1 µs per message: for a broker, in the isolated section's
 *     profiles of its producer and consumer operations run alone on no-op clients (the
 *     profile of the broker run beside it), else in the section's profiled run;
 * (d) under the 1% sampler: ≥ 90% of untraced throughput, added CPU no more than the sampled semconv floor's.
 */
function issueTargets(section: SectionResult, target: StateTarget, isolated?: SectionResult): string[] {
  const names = targetVariants(section);
  const lines: string[] = [];
  const added = cpuAddedOf(section, names.tracebus);
  if (section.official !== undefined && has(section, 'otel')) {
    const share = medianUsOf(section, 'otel') / medianUsOf(section, names.tracebus);
    const otelAdded = cpuAddedOf(section, 'otel');
    // The CPU half as the semconv-floor target: where the broker run's rounds cannot place the
    // median, the same ratio on the no-op clients decides, where the official instrumentation runs there.
    const cpuRounds = addedRounds(section, names.tracebus, 'otel', 'the official instrumentation');
    const isolatedCpu = isolatedAdded(isolated, section.name, false);
    const officialAlone = isolatedCpu?.official === undefined ? undefined : { tracebus: isolatedCpu.tracebus, floor: isolatedCpu.official };
    const cpu = addedVerdict(otelAdded > 0 ? added / otelAdded : undefined, cpuRounds, officialAlone, 1, 'the official instrumentation', true);
    const cpuAlone =
      officialAlone === undefined || isolatedCpu === undefined
        ? ''
        : `; on clients that do nothing (isolated section), tracing's work for \`${isolatedCpu.producerOperation}\` + \`${isolatedCpu.consumerOperation}\` costs tracebus ${officialAlone.tracebus.toFixed(2)} µs of CPU per message and ${section.official} ${officialAlone.floor.toFixed(2)} µs: ${times(officialAlone.tracebus / officialAlone.floor)}${spreadText(isolatedCpu.officialSpread)}`;
    const met = share >= 1.15 && cpu.met;
    // How far the floor itself gets against the official instrumentation: the bound for any
    // instrumentation that records what the floor records.
    const semconvShare = has(section, names.semconvFloor) ? medianUsOf(section, 'otel') / medianUsOf(section, names.semconvFloor) : undefined;
    // Where the section has the floor whose send span covers the send, that floor is the
    // bound: `error.type` is Conditionally Required on a failed send, and only a span still
    // open when the send settles can record it; `floor+semconv` ends its send span before.
    const confirmShare = has(section, CONFIRM_FLOOR) ? medianUsOf(section, 'otel') / medianUsOf(section, CONFIRM_FLOOR) : undefined;
    const floorShare = confirmShare ?? semconvShare;
    const boundFloor = confirmShare === undefined ? 'the semconv floor' : `the semconv floor whose send span covers the send (\`${CONFIRM_FLOOR}\`)`;
    const semconvBound = semconvShare === undefined ? '' : `; the floor with the semconv attributes reaches ${pct(semconvShare)} of it`;
    const confirmBound = confirmShare === undefined ? '' : `, and ${boundFloor}, which alone can record \`error.type\` on a failed send as semantic conventions require, ${pct(confirmShare)}`;
    // The claim that no instrumentation gets there holds only while tracebus did not either.
    const bound = floorShare === undefined ? '' : `${semconvBound}${confirmBound}${floorShare < 1.15 && share < 1.15 ? `, so no instrumentation that records ${confirmShare === undefined ? 'those attributes' : 'the attributes semantic conventions require'} reaches 115% here` : ''}`;
    const shares = roundRatios(section, ['otel', names.tracebus], (round) => usIn(section, 'otel', round) / usIn(section, names.tracebus, round), pct).text;
    // A half is out of reach where the floor that records the same attributes misses it too.
    const floorAddedCpu = has(section, names.semconvFloor) ? cpuAddedOf(section, names.semconvFloor) : undefined;
    // Where the no-op clients decided the CPU half, they also say whether the floor adds less there.
    const cpuOutOfReach = () => {
      if (cpu.why !== '' && officialAlone !== undefined && isolatedCpu !== undefined) {
        return isolatedCpu.floor >= officialAlone.floor ? `on clients that do nothing the semconv floor costs ${isolatedCpu.floor.toFixed(2)} µs, no less than it` : undefined;
      }
      return floorAddedCpu !== undefined && floorAddedCpu >= otelAdded ? `the semconv floor adds ${floorAddedCpu.toFixed(1)} µs, no less than it` : undefined;
    };
    const brief: Brief = {
      goal: `ahead of ${section.official}: ≥ 115% of its throughput, less added CPU`,
      measured: `${pct(share)} of its throughput; ${added.toFixed(1)} µs added against its ${otelAdded.toFixed(1)}${cpu.why === '' || officialAlone === undefined ? '' : `; decided on clients that do nothing: ${times(officialAlone.tracebus / officialAlone.floor)}`}`,
      outOfReach: met
        ? undefined
        : outOfReach([
            { met: share >= 1.15, outOfReach: floorShare !== undefined && floorShare < 1.15 ? `${boundFloor} reaches ${pct(floorShare)} of its throughput` : undefined },
            { met: cpu.met, outOfReach: cpuOutOfReach() },
          ]),
    };
    lines.push(`- ${target(`tracebus: ${pct(share)} of the throughput of ${section.official} (target ≥ 115%${shares}), adding ${added.toFixed(1)} µs of client CPU per message against its ${otelAdded.toFixed(1)} µs (target: less${cpuRounds.text})${cpuAlone}${cpu.why}${bound}${seeProfile(section, met)}`, met, brief)}.`);
  }
  if (has(section, names.semconvFloor)) {
    const semconvAdded = cpuAddedOf(section, names.semconvFloor);
    const floorAdded = cpuAddedOf(section, names.floor);
    const rounds = addedRounds(section, names.tracebus, names.semconvFloor);
    const alone = isolatedAdded(isolated, section.name, false);
    const { met, why } = addedVerdict(semconvAdded > 0 ? added / semconvAdded : undefined, rounds, alone, 1.2);
    // What the spans record differs: every attribute costs the SDK a check and a copy.
    const attributesOf = (variant: string) => (has(section, variant) ? medianOf(section, variant, (sample) => Number(sample.attributesPerMessage ?? Number.NaN)) : Number.NaN);
    const recorded = [attributesOf(names.tracebus), attributesOf(names.semconvFloor)];
    const records = recorded.every((count) => Number.isFinite(count) && count > 0) ? `; tracebus's spans record ${recorded[0]!.toFixed(0)} attributes per message, the floor's ${recorded[1]!.toFixed(0)}` : '';
    // RabbitMQ and Kafka single sends: tracebus's send span lasts until the broker confirms
    // (Kafka: acknowledges) the message; so does this floor's.
    const confirmAdded = has(section, CONFIRM_FLOOR) ? cpuAddedOf(section, CONFIRM_FLOOR) : undefined;
    const confirms = section.name === 'rabbitmq' ? 'confirms' : 'acknowledges';
    const confirm = confirmAdded === undefined ? '' : `; the semconv floor whose send span ends when the broker ${confirms} the message, as tracebus's does (\`${CONFIRM_FLOOR}\`), adds ${confirmAdded.toFixed(1)} µs: ${times(added / confirmAdded)}`;
    lines.push(
      `- ${target(`tracebus adds ${added.toFixed(1)} µs of CPU per message; the floor with the semconv attributes (\`${names.semconvFloor}\`) adds ${semconvAdded.toFixed(1)} µs: ${times(added / semconvAdded)} (target ≤ 1.2×${rounds.text}); the attribute-free floor (\`${names.floor}\`) adds ${floorAdded.toFixed(1)} µs: ${times(added / floorAdded)}${confirm}${records}${aloneText(alone)}${why}${seeProfile(section, met)}`, met, {
        goal: "close to the floor: added CPU ≤ 1.2× the semconv floor's",
        measured: `${times(added / semconvAdded)}${why === '' || alone === undefined ? '' : `; decided on clients that do nothing: ${times(alone.tracebus / alone.floor)}`}`,
      })}.`,
    );
  }
  const profiled = section.profiles?.find((run) => run.variant === names.tracebus);
  // tracebus parses and writes the W3C headers itself (src/w3c); the floor has the same work
  // done by @opentelemetry/core's propagators, which the profile counts as OpenTelemetry.
  const w3cOf = (run: ProfiledRun) => run.tracingFunctions.filter((fn) => fn.origin === 'tracebus src/w3c').reduce((sum, fn) => sum + fn.microsPerMessage, 0);
  const alone = isolatedOwnTime(isolated, section.name);
  if (alone !== undefined) {
    // Beside a broker that shares the machine's cores, the profile's wall-clock samples carry
    // the time the client waited descheduled, so its figure is only secondary here.
    const met = alone.total <= 1;
    const whose = section.name === 'inprocess' ? `the profile of the \`${names.tracebus}\` run through the bus` : `the profile of the \`${names.tracebus}\` run beside the broker`;
    const beside =
      profiled === undefined
        ? ''
        : `; ${whose} shows ${(profiled.parts.tracebus ?? 0).toFixed(2)} µs (${w3cOf(profiled).toFixed(2)} in src/w3c), more because its samples are wall-clock${section.name === 'inprocess' ? '' : ' and the broker shares the machine\'s cores'} (a sample taken after the process waited for the CPU carries the whole wait), and because a CPU profile counts the OpenTelemetry code V8 inlined into tracebus's functions as theirs`;
    const see = met ? '' : "; see the isolated section's profile table";
    // The W3C share is work every tracer does: the floors have @opentelemetry/core's
    // propagators do it, and the isolated section times both side by side.
    const w3cAlone = isolatedW3c(isolated);
    const w3cCompared = w3cAlone === undefined ? '' : ` (the propagators alone: tracebus's ${w3cAlone.tracebus.toFixed(2)} µs per message, core's ${w3cAlone.core.toFixed(2)} µs)`;
    // The median child decides; how far the children moved shows how firm that is.
    const spread = alone.spread === undefined ? '' : `; child by child ${alone.spread.low.toFixed(2)} to ${alone.spread.high.toFixed(2)} µs (the lowest producer and consumer children together, and the highest)`;
    lines.push(
      `- ${target(`tracebus's own code: ${alone.total.toFixed(2)} µs of self time per message (producer \`${alone.producerOperation}\` ${alone.producer.toFixed(2)} + consumer \`${alone.consumerOperation}\` ${alone.consumer.toFixed(2)}; target ≤ 1 µs${spread}), measured alone on no-op clients (isolated section); ${alone.w3c.toFixed(2)} µs of it in its W3C propagators (src/w3c), the work the floors leave to @opentelemetry/core${w3cCompared}, and ${(alone.total - alone.w3c).toFixed(2)} µs in the rest; a hand-written floor's own code: ${alone.floor.toFixed(2)} µs${met ? '' : ownTimeBound(alone)}${beside}${see}`, met, {
        goal: 'own code ≤ 1 µs of self time per message',
        measured: `${alone.total.toFixed(2)} µs${alone.spread === undefined ? '' : ` (child by child ${alone.spread.low.toFixed(2)}–${alone.spread.high.toFixed(2)})`}`,
        outOfReach: !met && overOneMicrosecond(leastOwnTime(alone)) ? `a tracer that records the floors' spans and passes the W3C suite needs ${leastOwnTime(alone).toFixed(2)} µs here; tracebus is ${(alone.total - leastOwnTime(alone)).toFixed(2)} µs above that` : undefined,
      })}.`,
    );
  } else if (profiled === undefined) {
    lines.push(`- ${target(`tracebus's own self time per message (target ≤ 1 µs): no profile of \`${names.tracebus}\` in this run`, undefined, { goal: 'own code ≤ 1 µs of self time per message', measured: 'no profile' })}.`);
  } else {
    const own = profiled.parts.tracebus ?? 0;
    const met = own <= 1;
    lines.push(`- ${target(`tracebus's own code: ${own.toFixed(2)} µs of self time per message in the profiled \`${names.tracebus}\` run, ${w3cOf(profiled).toFixed(2)} µs of it in its W3C propagators (src/w3c), the work the floors leave to @opentelemetry/core (target ≤ 1 µs)${seeProfile(section, met)}`, met, { goal: 'own code ≤ 1 µs of self time per message', measured: `${own.toFixed(2)} µs` })}.`);
  }
  if (has(section, names.sampled) && has(section, names.sampledFloor)) {
    const share = medianUsOf(section, 'untraced') / medianUsOf(section, names.sampled);
    const sampledAdded = cpuAddedOf(section, names.sampled);
    const floorAdded = cpuAddedOf(section, names.sampledFloor);
    const floorShare = medianUsOf(section, 'untraced') / medianUsOf(section, names.sampledFloor);
    const rounds = addedRounds(section, names.sampled, names.sampledFloor);
    const alone = isolatedAdded(isolated, section.name, true);
    const cpu = floorAdded > 0 ? addedVerdict(sampledAdded / floorAdded, rounds, alone, 1) : { met: sampledAdded <= floorAdded, why: '' };
    const met = share >= 0.9 && cpu.met;
    // The throughput half is out of any tracer's reach where the floor misses it: say how the CPU half fares on its own.
    const cpuHalf = floorShare < 0.9 ? `; the CPU half alone is ${cpu.met ? 'met' : 'missed'}` : '';
    lines.push(
      `- ${target(`sampled 1% (ParentBased(TraceIdRatioBased(0.01))): tracebus reaches ${pct(share)} of untraced throughput (target ≥ 90%; \`${names.sampledFloor}\` reaches ${pct(floorShare)}${floorShare < 0.9 ? ': no tracer that propagates every message does better here' : ''}) and adds ${sampledAdded.toFixed(1)} µs of CPU per message; \`${names.sampledFloor}\` adds ${floorAdded.toFixed(1)} µs (target: no more): ${times(sampledAdded / floorAdded)}${rounds.text}${aloneText(alone)}${cpu.why}${cpuHalf}${seeProfile(section, met)}`, met, {
        goal: "sampled 1%: ≥ 90% of untraced throughput, added CPU no more than the floor's",
        measured: `${pct(share)} of untraced; CPU ${times(sampledAdded / floorAdded)} the floor's${cpu.why === '' || alone === undefined ? '' : `; decided on clients that do nothing: ${times(alone.tracebus / alone.floor)}`}`,
        outOfReach: met
          ? undefined
          : outOfReach([
              { met: share >= 0.9, outOfReach: floorShare < 0.9 ? `the semconv floor reaches ${pct(floorShare)} of untraced throughput` : undefined },
              { met: cpu.met, outOfReach: undefined },
            ]),
      })}.`,
    );
  }
  return lines;
}

/** The in-process section's targets (tracebus with no SDK; issue 14's) and what explains them. */
function inProcessSummary(section: SectionResult, target: StateTarget, isolated: SectionResult | undefined): string[] {
  const medianUs = (variant: string) => medianUsOf(section, variant);
  const untraced = medianUs('untraced');
  const nosdk = medianUs('nosdk');
  const floor = medianUs('floor');
  const floorAttributes = medianUs('floor+attributes');
  const untracedSdk = medianUs('untraced+sdk');
  // What each traced variant adds to the untraced bus.
  const added = medianUs('sdk') - untraced;
  const byHand = medianUs('bus+floor') - untraced;
  const byHandAttributes = medianUs('bus+floor+attributes') - untraced;
  const nosdkRounds = roundRatios(section, ['untraced', 'nosdk'], (round) => usIn(section, 'untraced', round) / usIn(section, 'nosdk', round), pct).text;
  return [
    `- ${target(`tracebus with no SDK: ${pct(untraced / nosdk)} of untraced throughput (target ≥ 90%${nosdkRounds})`, untraced / nosdk >= 0.9, { goal: 'no SDK: ≥ 90% of untraced throughput', measured: pct(untraced / nosdk) })}.`,
    ...issueTargets(section, target, isolated),
    `- By the clock: tracebus with the SDK adds ${added.toFixed(2)} µs per message to the bus; the floor's work alone, in a tight loop with no bus, takes ${floor.toFixed(2)} µs (${times(added / floor)}).`,
    `- The floor's work written by hand around the bus (\`bus+floor\`) adds ${byHand.toFixed(2)} µs, ${times(byHand / floor)} the floor: the same two spans, inject and extract cost more spread over a real publish and an asynchronous delivery than in a tight loop. tracebus adds ${times(added / byHand)} that.`,
    `- With the attributes tracebus records (semconv requires \`messaging.system.name\` and \`messaging.operation.name\`; tracebus also sets the operation type, the destination and the message id), the hand-written version adds ${byHandAttributes.toFixed(2)} µs: tracebus adds ${times(added / byHandAttributes)} that, ${(added - byHandAttributes).toFixed(2)} µs per message for its own code. In the tight loop the attributes alone take the floor from ${floor.toFixed(2)} to ${floorAttributes.toFixed(2)} µs (${times(floorAttributes / floor)}): the SDK checks and copies every attribute twice.`,
    `- Registering the SDK alone (its AsyncLocalStorage context manager acts on every promise and timer of the bus) costs the untraced bus ${(untracedSdk - untraced).toFixed(2)} µs per message.`,
  ];
}

/**
 * The summary of a broker section: issue 14's targets (ahead of the official
 * instrumentation where the client has one; close to the semconv floor; tracebus's own
 * time; the sampled variants), what explains them, and the consumer-side latency the
 * wrappers add.
 */
function brokerSummary(section: SectionResult, target: StateTarget, isolated: SectionResult | undefined): string[] {
  const official = section.official;
  const medianUs = (variant: string) => medianUsOf(section, variant);
  const untraced = medianUs('untraced');
  const floor = medianUs('floor');
  const semconvFloor = medianUs('floor+semconv');
  const nosdk = has(section, 'tracebus-nosdk') ? medianUs('tracebus-nosdk') : undefined;
  const cpu = (variant: string) => cpuOf(section, variant);
  const cpuAdded = (variant: string) => cpuAddedOf(section, variant);
  const latency = (variant: string, key: 'p50' | 'p99') => medianOf(section, variant, (sample) => sample.latency![key]);
  const lines = issueTargets(section, target, isolated);
  lines.push(`- tracebus: ${pct(untraced / medianUs('tracebus'))} of untraced throughput${official === undefined ? '' : `, ${official} ${pct(untraced / medianUs('otel'))}`}.`);
  if (nosdk !== undefined) lines.push(`- tracebus with no SDK registered: ${pct(untraced / nosdk)} of untraced throughput.`);
  // The official instrumentation's figures, where the client has one.
  const withOfficial = (text: (name: string) => string) => (official === undefined ? '' : `, ${text(official)}`);
  lines.push(
    `- the floor, only the OpenTelemetry work each message cannot avoid, reaches ${pct(untraced / floor)} of untraced throughput, ${pct(untraced / semconvFloor)} with the attributes semantic conventions require (\`floor+semconv\`): an instrumentation that records a producer and a consumer span for every message cannot do better on this workload.`,
    `- client CPU added per message over untraced: tracebus ${cpuAdded('tracebus').toFixed(1)} µs${withOfficial((name) => `${name} ${cpuAdded('otel').toFixed(1)} µs`)}, the floor ${cpuAdded('floor').toFixed(1)} µs, with the semconv attributes ${cpuAdded('floor+semconv').toFixed(1)} µs; the untraced client itself spends ${cpu('untraced').toFixed(1)} µs.`,
    `- while the process is CPU-bound, throughput can reach at most untraced CPU ÷ traced CPU per message: ${pct(cpu('untraced') / cpu('floor'))} with the floor, ${pct(cpu('untraced') / cpu('floor+semconv'))} with \`floor+semconv\`, ${pct(cpu('untraced') / cpu('tracebus'))} with tracebus${withOfficial((name) => `${pct(cpu('untraced') / cpu('otel'))} with ${name}`)}.`,
  );
  const sampled = section.variants.filter((variant) => variant.endsWith('@1%'));
  if (sampled.length > 0) {
    lines.push(`- sampled 1%, client CPU added per message: ${sampled.map((variant) => `${variant} ${cpuAdded(variant).toFixed(1)} µs`).join(', ')}; throughput ${sampled.map((variant) => `${variant} ${pct(untraced / medianUs(variant))}`).join(', ')} of untraced. Every message still carries its context, so the unsampled 99% cost the propagation and a non-recording span on each side.`);
  }
  lines.push(
    '',
    'Consumer-side latency of the handler wrapper, per message (medians over the rounds of each run’s percentiles, µs):',
    '',
    '| variant | p50 | p99 | added p50 | added p99 |',
    '|---|---:|---:|---:|---:|',
  );
  const baseP50 = latency('untraced', 'p50');
  const baseP99 = latency('untraced', 'p99');
  for (const variant of section.variants) {
    const p50 = latency(variant, 'p50');
    const p99 = latency(variant, 'p99');
    const added = (value: number) => (variant === 'untraced' ? '—' : (value >= 0 ? '+' : '') + value.toFixed(2));
    lines.push(`| ${variant} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${added(p50 - baseP50)} | ${added(p99 - baseP99)} |`);
  }
  lines.push('', ...tracingChecked(section));
  // The SDK checks and copies every attribute twice when a span starts, so how much each
  // variant records explains part of its cost.
  const recorded = (variant: string, key: 'attributesPerMessage' | 'linksPerMessage') => medianOf(section, variant, (sample) => Number(sample[key] ?? 0)).toFixed(1);
  lines.push('', `Recorded per message, all its spans together: attributes tracebus ${recorded('tracebus', 'attributesPerMessage')}${withOfficial((name) => `${name} ${recorded('otel', 'attributesPerMessage')}`)}, the floor ${recorded('floor', 'attributesPerMessage')}, \`floor+semconv\` ${recorded('floor+semconv', 'attributesPerMessage')}; links tracebus ${recorded('tracebus', 'linksPerMessage')}${withOfficial((name) => `${name} ${recorded('otel', 'linksPerMessage')}`)}.`);
  return lines;
}

/** A broker section's variants that trace under an SDK: all but `untraced` and `tracebus-nosdk`. */
const withSdk = (section: SectionResult) => section.variants.filter((variant) => variant !== 'untraced' && variant !== 'tracebus-nosdk');

/**
 * What the children checked of each traced variant's throughput pass (passes.ts): the spans
 * it exported per message, and that every message carried a `traceparent`, sampled or not.
 */
function tracingChecked(section: SectionResult): string[] {
  const spans = withSdk(section).map((variant) => `${variant} ${medianOf(section, variant, (sample) => sample.spansPerMessage ?? 0).toFixed(2)}`);
  const carried = withSdk(section).filter((variant) => samplesOf(section, variant).every((sample) => sample.traceparentsPerMessage !== undefined));
  const lines = [`Spans exported per message during the throughput pass (checked, so that every traced variant really traces; under the 1% sampler about 1% of them): ${spans.join(', ')}.`];
  if (carried.length > 0) {
    const share = (variant: string) => Math.min(...samplesOf(section, variant).map((sample) => Number(sample.traceparentsPerMessage)));
    lines.push('', `Messages that reached the consumer with a \`traceparent\` (checked: all of them, sampled or not): ${carried.map((variant) => `${variant} ${pct(share(variant))}`).join(', ')}.`);
  }
  return lines;
}

/** What to know about reading the in-process profile: V8 counts part of the bus's work as idle. */
function inProcessProfileNote(profiles: ProfiledRun[]): string {
  const busy = profiles.map(({ sample }) => Number(sample.eventLoopUtilization));
  return `The \`idle\` row is not waiting: the event loop was busy ${pct(Math.min(...busy))}–${pct(Math.max(...busy))} of each profiled pass (\`performance.eventLoopUtilization()\`), but V8 counts part of the time Node spends running setImmediate callbacks, where the bus delivers every message, as idle, without a stack. The consumer side's work is partly in that row; compare the variants by their total (busy and idle).`;
}

/** Where the time of one throughput pass goes, per profiled variant: self time per message by part of the stack. */
function profileTable(section: SectionResult, profiles: ProfiledRun[]): string[] {
  const variants = profiles.map(({ variant }) => variant);
  const cell = (run: ProfiledRun, part: string) => (run.parts[part] ?? 0).toFixed(2);
  const busy = (run: ProfiledRun) =>
    Object.entries(run.parts)
      .filter(([part]) => part !== 'idle')
      .reduce((sum, [, time]) => sum + time, 0);
  return [
    'Where the time goes: one more run per variant with its throughput pass CPU-profiled (self time per message, µs; samples are wall-clock, so time the process waited descheduled inside a socket write counts under Node.js):',
    '',
    `| part of the stack | ${variants.join(' | ')} |`,
    `|---|${variants.map(() => '---:|').join('')}`,
    ...STACK_PARTS.map((part) => `| ${part} | ${profiles.map((run) => cell(run, part)).join(' | ')} |`),
    `| **busy, all parts** | ${profiles.map((run) => `**${busy(run).toFixed(2)}**`).join(' | ')} |`,
    `| idle | ${profiles.map((run) => cell(run, 'idle')).join(' | ')} |`,
    ...(section.name === 'inprocess' ? ['', inProcessProfileNote(profiles)] : []),
    '',
    ...profiles
      .filter((run) => run.tracingFunctions.length > 0)
      .map((run) => {
        const heaviest = run.tracingFunctions.slice(0, 6).map(({ name, origin, microsPerMessage }) => `\`${name}\` (${origin}) ${microsPerMessage.toFixed(2)}`);
        return `- heaviest tracing functions in the ${run.variant} run (µs per message): ${heaviest.join(', ')}.`;
      }),
  ];
}

/** The table of a section's variants: throughput medians and spread, and for the brokers the client's CPU time. */
function variantTable(section: SectionResult): string[] {
  const base = medianOf(section, section.variants[0]!, us);
  // The children also report the CPU time their process spent per message: less disturbed
  // by neighbours than the wall clock, it shows what each variant itself costs.
  const cpu = section.variants.every((variant) => samplesOf(section, variant).every((sample) => typeof sample.cpuMicrosPerMessage === 'number'));
  const lines = [
    `| variant | messages/s (median) | µs/message (median) | spread (min–max µs) | throughput vs first |${cpu ? ` ${section.client === undefined ? 'CPU' : 'client CPU'} µs/message (median) |` : ''}`,
    `|---|---:|---:|---:|---:|${cpu ? '---:|' : ''}`,
  ];
  for (const variant of section.variants) {
    const values = samplesOf(section, variant).map(us);
    const value = median(values);
    const cpuCell = cpu ? ` ${medianOf(section, variant, (sample) => Number(sample.cpuMicrosPerMessage)).toFixed(1)} |` : '';
    lines.push(`| ${variant} | ${Math.round(1e6 / value).toLocaleString('en')} | ${value.toFixed(2)} | ${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)} | ${pct(base / value)} |${cpuCell}`);
  }
  return lines;
}

/**
 * One section of the report's results: its table, its summary and targets, its profile.
 * `sections` are all the sections at hand: a broker section's target (c) takes its figures
 * from the isolated section's profiles when that ran (run.ts runs it last, so while it runs
 * the broker sections are reported from their own profiles).
 */
export function sectionReport(section: SectionResult, sections: readonly SectionResult[] = []): SectionReport {
  const targets: Target[] = [];
  const target: StateTarget = (text, met, brief) => {
    targets.push({ section: section.name, text, met, brief });
    return `${text} — ${verdict(met)}`;
  };
  const lines = [`### ${section.title}`, ''];
  const memory = section.name === 'memory' || section.name === 'memory-rabbitmq' || section.name === 'memory-kafka';
  if (!memory && section.name !== 'wire' && section.name !== 'isolated') lines.push(...variantTable(section), '');
  const summary =
    section.name === 'inprocess' ? inProcessSummary(section, target, sections.find((other) => other.name === 'isolated')) : memory ? memorySummary(section, target) : section.name === 'wire' ? wireSummary(section, target) : section.name === 'isolated' ? isolatedSummary(section) : brokerSummary(section, target, sections.find((other) => other.name === 'isolated'));
  lines.push(...summary, '');
  if (section.profiles !== undefined) lines.push(...profileTable(section, section.profiles), '');
  lines.push(`<sub>${section.rounds} round${section.rounds === 1 ? '' : 's'}; 1-minute load average ${section.load.before.toFixed(1)} before, ${section.load.after.toFixed(1)} after.</sub>`, '');
  return { lines, targets };
}

/**
 * The targets at a glance: how many were met, which misses no tracer could avoid on this
 * machine (the floor, or the least a W3C-conformant tracer needs, misses them too) and which
 * are tracebus's own to close; then a row per target with its brief.
 */
export function targetTable(targets: readonly Target[]): string[] {
  const met = targets.filter((entry) => entry.met === true).length;
  const missed = targets.filter((entry) => entry.met === false);
  const beyond = missed.filter((entry) => entry.brief?.outOfReach !== undefined).length;
  const unmeasured = targets.filter((entry) => entry.met === undefined).length;
  const tally = [
    `${met} of ${targets.length} targets met`,
    ...(missed.length === 0 ? [] : [`${missed.length} missed: ${beyond} where no tracer does better on this machine (the floor, or the least a W3C-conformant tracer needs, misses it too), ${missed.length - beyond} where tracebus falls short of what this machine allows`]),
    ...(unmeasured === 0 ? [] : [`${unmeasured} not measured`]),
  ];
  const cell = (entry: Target) => {
    if (entry.met !== false || entry.brief?.outOfReach === undefined) return verdict(entry.met);
    return `${verdict(false)}, out of reach here: ${entry.brief.outOfReach}`;
  };
  return [
    `${tally.join('; ')}.`,
    '',
    '| section | target | measured | verdict |',
    '|---|---|---|---|',
    ...targets.map((entry) => `| ${entry.section} | ${entry.brief?.goal ?? entry.text} | ${entry.brief?.measured ?? ''} | ${cell(entry)} |`),
  ];
}

/** The whole of docs/benchmarks.md: where it ran, the targets, what the variants are, and every section's results. */
export function benchmarkReport(results: BenchResults): string {
  const { rounds, memoryRounds, messages, environment } = results;
  const sections = results.sections.map((section) => sectionReport(section, results.sections));
  const chart = chartSummary(results);
  const singleRounds = results.sections.find((section) => section.name === 'kafka-single')?.rounds;
  const targets: Target[] = [...sections.flatMap((section) => section.targets), { section: 'chart', text: chart.text, met: chart.met, brief: chart.brief }];
  const header = [
    '# Benchmarks',
    '',
    '![Throughput as a share of untraced, and client CPU added per message, by transport and variant](benchmarks.svg)',
    '',
    'Written by `npm run bench` (scripts/bench/run.ts), with the chart above (docs/benchmarks.svg). Every variant runs in its own process; the',
    `variants alternate over ${rounds} round${rounds === 1 ? '' : 's'} (${singleRounds === undefined || singleRounds === rounds ? '' : `Kafka single sends: ${singleRounds}, `}the in-process memory and the wire sections: ${memoryRounds}, the broker memory sections: 1) and the tables show medians with`,
    'their spread.',
    '',
    `- machine: ${environment.cpus} × ${environment.cpuModel}, ${(environment.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${environment.platform} ${environment.release}`,
    `- Node.js ${environment.node}; @opentelemetry/api ${environment.api}, sdk-trace ${environment.sdkTrace}, core ${environment.core}`,
    ...results.brokers.map((broker) => `- ${broker.title}: ${broker.client} ${broker.clientVersion}, broker ${broker.brokerVersion === undefined ? '' : `${broker.brokerVersion} `}from ${broker.source}; ${broker.official === undefined ? 'no official instrumentation' : `official instrumentation ${broker.official} ${broker.officialVersion}`}`),
    `- messages per run: in-process ${messages.inprocess.toLocaleString('en')}, RabbitMQ ${messages.rabbitmq.toLocaleString('en')}, Kafka ${messages.kafka.toLocaleString('en')} (each client), Kafka single sends ${messages['kafka-single'].toLocaleString('en')}; memory ${messages.memory.toLocaleString('en')} through tracebus on each transport; wire ${messages.wire.toLocaleString('en')}`,
    `- run on ${environment.date}`,
    '',
    '## Targets',
    '',
    'Added CPU is the CPU time per message a variant adds to its section’s untraced run (for a broker,',
    'the client process’s). Throughput shares are of median wall-clock rates. A verdict compares the',
    'medians over the rounds; where a line says “round by round”, that is the lowest and highest of the',
    'same ratio taken in each round alone (a round runs every variant of its section once, one after',
    'the other), to show how far the noise of a shared 2-core machine moves it. Where an added-CPU',
    'ratio’s rounds fall on both sides of its target line, the run cannot tell which side its median',
    'is on (five rounds span the median of what this machine measures with 94% confidence), and the',
    'same ratio measured on clients that do nothing decides instead (the isolated section, whose',
    'variants alternate within each of several processes, the median of which decides); the line',
    'says so, with the ratio’s spread process by process.',
    '',
    'A miss is out of reach here where the floor that records the attributes semantic conventions',
    'require misses that part of the target too, or, for tracebus’s own code, where the least that a',
    'tracer recording the floors’ spans and passing the W3C test suite spends in its own code is over',
    '1 µs on this machine.',
    '',
    ...(targets.length === 0 ? ['No section with a target was run.'] : [...targetTable(targets), '', 'Each target in full:', '', ...targets.map((entry) => `- ${entry.section}: ${entry.text} — ${verdict(entry.met)}`)]),
    ...results.skipped.map((skipped) => `- ${skipped.title}: not run (${skipped.reason}).`),
    '',
    '## Variants',
    '',
    'In-process bus: `untraced` is the bus alone; `nosdk` adds tracebus with no SDK registered; `sdk`',
    'adds a TracerProvider with a BatchSpanProcessor in front of a no-op exporter, the',
    'AsyncLocalStorage context manager and the W3C propagators; `floor` is no bus at all, only the',
    'OpenTelemetry work each message cannot avoid with that SDK (start and end a producer span, inject,',
    'extract, start and end a consumer span, run the handler in its context), in a loop that returns to',
    'the event loop every 1,000 messages so that the batch processor exports rather than drops;',
    '`floor+attributes` adds the attributes tracebus records; `bus+floor` is the floor’s work written',
    'by hand around the untraced bus (a publisher that starts the producer span, injects and ends the',
    'span once the bus has the message; a handler that extracts and runs in the consumer span), and',
    '`bus+floor+attributes` the same with the attributes (the floor that records what semantic',
    'conventions require); `untraced+sdk` is the bus alone with the SDK registered; `sdk@1%` and',
    '`bus+floor+attributes@1%` are `sdk` and `bus+floor+attributes` under the production sampler below.',
    'Every variant with an SDK checks that it exported two spans per message (the sampled ones: far',
    'fewer) and that every message reached its handler with a `traceparent`.',
    '',
    'Brokers: `untraced` is the client alone, no SDK; `tracebus` wraps the client with tracebus',
    '(`traceChannel()`, `traceProducer()`/`traceConsumer()`, `traceConfluentProducer()`/`traceConfluentConsumer()`)',
    'under the SDK above; `otel` is the official OpenTelemetry instrumentation of the client under the',
    'same SDK (@confluentinc/kafka-javascript has none, so its section has no `otel` and compares',
    'tracebus with its untraced run and the floor); `floor` is the client with only',
    'the OpenTelemetry work each message cannot avoid, under the same SDK (a producer span started,',
    'its context injected, ended; the context extracted, a consumer span around the handler, no',
    'attributes); `floor+semconv` is the floor with the attributes semantic conventions require for',
    'the transport, named and valued as tracebus records them: its spans start with',
    '`messaging.system.name`, `messaging.operation.name`, `messaging.operation.type` and',
    '`messaging.destination.name`, and with `messaging.consumer.group.name` on a Kafka consumer’s',
    '(Conditionally Required there, and sampling-relevant); on RabbitMQ a span that records then gets',
    'the routing key and, on the consumer’s side, the delivery tag (both Conditionally Required), set',
    'after the start as tracebus sets them; on Kafka a `send` of several messages also gets the span',
    'semantic conventions give a batch API beside its per-message `create` spans, as tracebus records',
    'it: a CLIENT `send` span for the call with `messaging.batch.message_count` and a link to each',
    'message’s `create` span;',
    '`floor+semconv+confirm` (RabbitMQ, and Kafka with one message per `send`) is `floor+semconv` with',
    'its send span ended when the broker confirms (Kafka: acknowledges) the message, failed on a nack or',
    'an error, as tracebus ends its own (and on Kafka the official instrumentation too), rather than right',
    'after the publish or before the `send`; on Kafka the span is also active while the client sends. Only a span',
    'still open then can record `error.type`, which semantic conventions require on a failed send;',
    '`tracebus-nosdk` is tracebus with no SDK registered. `tracebus@1%`, `otel@1%` and',
    '`floor+semconv@1%` run under the SDK with a production sampler,',
    '`ParentBased(TraceIdRatioBased(0.01))`: each producer span starts a trace, 1% of the traces are',
    'kept, and the consumer span follows the decision its message carried; every message still carries a',
    '`traceparent` (checked). Producer and consumer run in',
    'one process, so the tables show the cost of tracing both sides, and the broker runs on the same',
    'machine. Each run has a fresh queue or topic, a warm-up pass (as many messages as a throughput',
    'pass, at least 30,000: before that, V8 is still optimizing the hot path and the heap still',
    'growing, which a production process is long past), three throughput passes (messages/s from',
    'the first send to the last message consumed; the client CPU column is the process’s CPU time',
    'over a pass; a run counts the median pass of each, as one pass varies from the next about as',
    'much as one run from the next) and a latency pass of the same size.',
    '',
    '- RabbitMQ: a ConfirmChannel publishes 256-byte messages to the queue through the default',
    '  exchange, waiting for the confirms after every 1,000; a consumer on its own connection',
    '  (prefetch 500) acks each message in its handler.',
    '- Kafka: a topic of 3 partitions; 256-byte keyless messages go out in `send` calls of 100, at',
    '  most 4 calls in flight (acks from all in-sync replicas); one consumer in its own group runs an',
    '  `eachMessage` handler. The same for @confluentinc/kafka-javascript, through its KafkaJS API',
    '  with `linger.ms` 0 (a `send` goes out at once, as with kafkajs).',
    '- Kafka, single sends (kafkajs): the same, but one message per `send` call, at most 32 calls in',
    '  flight, so that the per-call work of the client and of tracing falls on every message while the',
    '  broker’s round trip does not set the pace. No sampled variants.',
    '',
    'Memory, on the in-process bus (scripts/bench/memory.ts, one bus for the whole run), RabbitMQ and',
    'Kafka (the broker sections’ children in memory mode): `untraced`, `floor` (on the bus, the',
    'floor’s work written by hand around it), the floor with the attributes semantic conventions',
    'require (on the bus `floor+attributes`, the ones tracebus records there; on the brokers',
    '`floor+semconv`) and `tracebus`, each in its own process under',
    '`--expose-gc`; after a warm-up, the run’s messages go in ten passes, and after each the spans',
    'are flushed and a full GC samples the heap. A line fit through tracebus’s samples says whether',
    'its heap stayed flat; bytes allocated per message are summed from V8’s GC statistics',
    '(scripts/bench/heap.ts).',
    '',
    'Wire: scripts/bench/wire.ts has tracebus write its headers through recording fakes of kafkajs',
    'and amqplib, and sizes the messages with the clients’ own encoders; the broker runs send the',
    'headers of its last case as static headers through the untraced client (scripts/bench/payload.ts).',
    '',
    'The latency is the consumer-side cost of the handler wrapper: from the client invoking',
    'its callback to the user handler starting, plus from the handler’s end to the callback returning',
    '(Kafka: to its promise settling), measured at the client’s own call site with',
    '`process.hrtime.bigint()` (scripts/bench/probe.ts). The RabbitMQ handler acks after its end mark,',
    'so the ack, and whatever tracing does in it, counts as overhead for every variant alike.',
    '',
    '## Results',
    '',
  ];
  return `${[...header, ...sections.flatMap((section) => section.lines)].join('\n').trimEnd()}\n`;
}
