/** First retry waits up to this long; each later one doubles it, up to MAX_DELAY_MS. */
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

/**
 * Returns the wait before retry number `attempt` (1 = the first retry): exponential backoff with
 * full jitter, a random time between 0 and min(MAX_DELAY_MS, BASE_DELAY_MS * 2^(attempt-1)), so
 * that many clients failing together do not retry together.
 */
export function backoffDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

/** Waits `milliseconds`; rejects with the signal's reason once it aborts. */
export function sleep(milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, milliseconds);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
