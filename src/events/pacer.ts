import { setTimeout as sleep } from 'node:timers/promises';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopShareOptions {
  /** The share of the event loop the worker may take while others keep it busy. */
  share: number;
  /** Others' utilisation of the loop, during a pause, above which it counts as busy. */
  busyAbove: number;
  /** The shortest pause, long enough to see what else the loop does. */
  probeMs: number;
  /** The longest pause, so a busy server still delivers (and is quick to close). */
  maxPauseMs: number;
  /** What one item is taken to cost (ms of the loop) until it was measured. */
  initialCostMs: number;
}

/**
 * The first estimate errs towards yielding: several times what an event
 * costs on the bench machine (bench/NOTES.md), so a worker that starts while
 * requests keep the loop busy takes less than its share, not more.
 */
const DEFAULTS: LoopShareOptions = { share: 0.05, busyAbove: 0.5, probeMs: 2, maxPauseMs: 1_000, initialCostMs: 0.5 };

/**
 * Paces a background worker that shares the event loop with the requests
 * (the event outbox, SPEC §13). Between two batches it pauses, and measures
 * how busy the loop was meanwhile with what is not the worker
 * (performance.eventLoopUtilization). While the loop is otherwise idle, the
 * pause is a few milliseconds. While requests keep it busy, the pause is long
 * enough that the batch's estimated cost stays under `share` of the time.
 * An item's cost is learned from the batches that ran while the loop had
 * room: the loop's active time during the batch less what the others took
 * of it at their rate during the pause before. A saturated loop tells the
 * two apart no more, so there the last estimate stands.
 */
export class LoopShare {
  private readonly options: LoopShareOptions;
  private costMs: number;
  private othersUtilisation = 0;
  private started: { elu: EventLoopUtilization; at: number } | null = null;

  constructor(options: Partial<LoopShareOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.costMs = this.options.initialCostMs;
  }

  /** A batch starts now. */
  begin(): void {
    this.started = { elu: performance.eventLoopUtilization(), at: performance.now() };
  }

  /** The pause after a batch of `items` begun last; ends early when `signal` aborts. */
  async pause(items: number, signal?: AbortSignal): Promise<void> {
    const { share, busyAbove, probeMs, maxPauseMs } = this.options;
    let wait = probeMs;
    if (this.started && items > 0) {
      const took = performance.now() - this.started.at;
      const busy = this.othersUtilisation > busyAbove;
      if (!busy) {
        const own = performance.eventLoopUtilization(this.started.elu).active - this.othersUtilisation * took;
        if (own > 0) this.costMs = 0.8 * this.costMs + 0.2 * (own / items);
      } else {
        wait = Math.min(maxPauseMs, Math.max(probeMs, (items * this.costMs) / share - took));
      }
    }
    const before = performance.eventLoopUtilization();
    await sleep(wait, undefined, { signal }).catch(() => undefined);
    this.othersUtilisation = performance.eventLoopUtilization(before).utilization;
  }
}
