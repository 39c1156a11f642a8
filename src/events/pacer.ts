import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopShareOptions {
  /** The share of the event loop the worker may take while others keep it busy. */
  share: number;
  /** Others' utilisation of the loop, during a pause, above which it counts as busy. */
  busyAbove: number;
  /** The shortest pause, long enough to see what else the loop does. */
  probeMs: number;
  /** The longest pause, so a busy server still delivers (and close() waits at most this). */
  maxPauseMs: number;
}

const DEFAULTS: LoopShareOptions = { share: 0.05, busyAbove: 0.5, probeMs: 2, maxPauseMs: 500 };

/**
 * Paces a background worker that shares the event loop with the requests
 * (the event outbox, SPEC §13): between two batches it pauses, and measures
 * how busy the loop was meanwhile with what was not the worker
 * (performance.eventLoopUtilization). While the loop is otherwise idle the
 * pause is a few milliseconds; while requests keep it busy, the pause is long
 * enough that the batch's share of the time stays under `share`. A batch's
 * cost is taken as the loop's active time while it ran, which counts
 * whatever requests ran in between too: an upper bound, so the worker errs
 * towards yielding.
 */
export class LoopShare {
  private readonly options: LoopShareOptions;
  private busy = false;
  private started: { elu: EventLoopUtilization; at: number } | null = null;

  constructor(options: Partial<LoopShareOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** A batch starts now. */
  begin(): void {
    this.started = { elu: performance.eventLoopUtilization(), at: performance.now() };
  }

  /** The pause after the batch begun last. */
  async pause(): Promise<void> {
    const { share, busyAbove, probeMs, maxPauseMs } = this.options;
    let wait = probeMs;
    if (this.busy && this.started) {
      const cost = performance.eventLoopUtilization(this.started.elu).active;
      const took = performance.now() - this.started.at;
      wait = Math.min(maxPauseMs, Math.max(probeMs, cost / share - took));
    }
    const before = performance.eventLoopUtilization();
    await new Promise<void>((resolve) => setTimeout(resolve, wait));
    this.busy = performance.eventLoopUtilization(before).utilization > busyAbove;
  }
}
