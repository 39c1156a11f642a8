import { setTimeout as sleep } from 'node:timers/promises';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface LoopShareOptions {
  /** The share of the event loop the worker may take while others keep it busy. */
  share: number;
  /** Others' utilisation of the loop, during a pause, above which it counts as busy. */
  busyAbove: number;
  /**
   * Requests a second above which the server counts as busy whatever the
   * loop's utilisation says: on a machine short of CPU the process waits for
   * a core with its loop counted idle, and the worker's CPU is the requests'.
   */
  busyRequestsPerSecond: number;
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
const DEFAULTS: LoopShareOptions = { share: 0.05, busyAbove: 0.5, busyRequestsPerSecond: 20, probeMs: 2, maxPauseMs: 1_000, initialCostMs: 0.5 };

/**
 * Paces a background worker that shares the event loop with the requests
 * (the event outbox, SPEC §13). Between two batches it pauses, and measures
 * how busy the loop was meanwhile with what is not the worker
 * (performance.eventLoopUtilization). While the loop is otherwise idle, the
 * pause is a few milliseconds. While requests keep it busy, the pause is long
 * enough that the batch's estimated cost stays under `share` of the time;
 * so it is too while requests come faster than `busyRequestsPerSecond`.
 * An item's cost is learned from the batches during which no request came:
 * the process's CPU time over the batch (process.cpuUsage, so time spent
 * waiting for a core on a crowded machine is not counted). While requests
 * come the two are not told apart, so there the last estimate stands.
 */
export class LoopShare {
  private readonly options: LoopShareOptions;
  private costMs: number;
  private othersUtilisation = 0;
  private requests = 0;
  private counted = { requests: 0, at: performance.now() };
  private busy = false;
  private started: { elu: EventLoopUtilization; cpu: NodeJS.CpuUsage; requests: number; at: number } | null = null;

  constructor(options: Partial<LoopShareOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.costMs = this.options.initialCostMs;
  }

  /** The server took a request. */
  noteRequest(): void {
    this.requests++;
  }

  /** A batch starts now. */
  begin(): void {
    this.started = { elu: performance.eventLoopUtilization(), cpu: process.cpuUsage(), requests: this.requests, at: performance.now() };
  }

  /** The pause after a batch of `items` begun last; ends early when `signal` aborts. */
  async pause(items: number, signal?: AbortSignal): Promise<void> {
    const { share, busyAbove, busyRequestsPerSecond, probeMs, maxPauseMs } = this.options;
    let wait = probeMs;
    if (this.started && items > 0) {
      const took = performance.now() - this.started.at;
      if (!this.busy && this.requests === this.started.requests) {
        // No request came meanwhile: the process's CPU time over the batch is the batch's (a wait for a core is not counted).
        const cpu = process.cpuUsage(this.started.cpu);
        this.costMs = 0.8 * this.costMs + 0.2 * ((cpu.user + cpu.system) / 1000 / items);
      }
      if (this.busy) {
        wait = Math.min(maxPauseMs, Math.max(probeMs, (items * this.costMs) / share - took));
      }
    }
    const before = performance.eventLoopUtilization();
    await sleep(wait, undefined, { signal }).catch(() => undefined);
    this.othersUtilisation = performance.eventLoopUtilization(before).utilization;
    const at = performance.now();
    const rate = ((this.requests - this.counted.requests) * 1000) / Math.max(1, at - this.counted.at);
    this.counted = { requests: this.requests, at };
    this.busy = this.othersUtilisation > busyAbove || rate > busyRequestsPerSecond;
  }
}
