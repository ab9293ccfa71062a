/** Reads an instance's /readyz the way a load balancer does, optionally giving it time to become ready. */

/**
 * The status of `/readyz`; with `waitMs`, polls until it is 200 or the time is up (readiness is probed about once a second, and
 * a revocation subscriber reconnects on its own backoff, so an instance that serves again may report ready a moment later).
 */
export async function readyzStatus(httpUrl: string, waitMs = 0): Promise<number> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const status = (await fetch(`${httpUrl}/readyz`)).status;
    if (status === 200 || Date.now() >= deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
