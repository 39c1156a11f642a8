import type { Principal, UsageEntry } from './usage.js';

export interface Measured {
  promptTokens: number;
  completionTokens: number;
  images: number;
}

export const NOTHING: Measured = { promptTokens: 0, completionTokens: 0, images: 0 };

/**
 * The charging of one generation call, shared by the buffered and streaming
 * paths: it knows who called what, when it started, and records the call
 * exactly once, with the status the app received (failed calls are
 * charged nothing).
 */
export class Meter {
  private readonly started: number;
  /** The one recording of this call: a later charge waits for it rather than answering before it has committed. */
  private recording: Promise<void> | null = null;

  constructor(
    private readonly call: { principal: Principal; endpoint: UsageEntry['endpoint']; model: string | null },
    /** Receives the entry with `clientName` null, for the recorder to fill in. */
    private readonly record: (entry: UsageEntry) => Promise<void>,
    private readonly now: () => number,
  ) {
    this.started = now();
  }

  charge(status: number, measured: Measured = NOTHING): Promise<void> {
    this.recording ??= this.recordOnce(status, measured);
    return this.recording;
  }

  private async recordOnce(status: number, measured: Measured): Promise<void> {
    const billed = status === 200 ? measured : NOTHING;
    const { principal, endpoint, model } = this.call;
    // One literal of one shape: spreads here built a new hidden class on every call (MigrateToMap, CopyAddDescriptor in the profile).
    await this.record({
      principal,
      clientName: null,
      endpoint,
      model,
      promptTokens: billed.promptTokens,
      completionTokens: billed.completionTokens,
      images: billed.images,
      status,
      latencyMs: this.now() - this.started,
    });
  }
}
