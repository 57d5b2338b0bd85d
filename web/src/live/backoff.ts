/** Waiting between attempts: how often a visible order is asked for its status, and how a call
 * that could not reach its server is tried again. */

/** Milliseconds before poll number `attempt` (0 first): 2 s, growing by half each time, at most
 * 15 s — quick enough that a payment confirmed elsewhere shows within seconds, slow enough that
 * a page left open does not keep the servers busy. */
export function pollDelay(attempt: number): number {
  return Math.min(15_000, Math.round(2_000 * 1.5 ** attempt));
}

/** Pauses before each retry of a call that failed to reach its server. */
export const RETRY_DELAYS_MS = [300, 1_000] as const;

export type Sleep = (ms: number) => Promise<void>;

export const sleep: Sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

/** Runs `attempt`, and again after each of `delays` while `retryable` says its failure is worth
 * another try (the network, not an answer); the last failure is thrown. Safe for every tool:
 * the servers' tools are idempotent or take an idempotency key (ARCHITECTURE, MCP conventions). */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
  delays: readonly number[] = RETRY_DELAYS_MS,
  pause: Sleep = sleep,
): Promise<T> {
  for (let tried = 0; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      const delay = delays[tried];
      if (delay === undefined || !retryable(error)) {
        throw error;
      }
      await pause(delay);
    }
  }
}
