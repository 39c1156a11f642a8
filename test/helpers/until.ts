/**
 * The one way a test waits for something: poll `condition` until it returns a truthy value (which is
 * returned), or throw after `timeoutMs` naming what was awaited. A bounded poll instead of a fixed
 * sleep, so a loaded machine makes a test slower, not red, and a fast one does not wait for nothing.
 * A sleep that is itself the point (waiting out a TTL, a window in which something must NOT happen)
 * stays a sleep, with a comment saying why.
 */
/** What a truthy result of the condition can be. */
type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

export async function until<T>(
  condition: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 20, message }: { timeoutMs?: number; intervalMs?: number; message: string },
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await sleep(intervalMs);
  }
}

/** A fixed pause, for the waits that are the point of a test; say why where you use it. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
