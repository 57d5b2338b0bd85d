/** An order on screen that can change elsewhere: while it waits for payment the app asks the
 * ticket server for it again (get_upgrade_order), with a growing pause (`pollDelay`), and only
 * while the page is visible, so a payment confirmed by the gateway's webhook or in another tab,
 * or a hold that expired, shows without a reload. The servers offer no push channel to browsers;
 * polling the one visible order is the documented choice (web/README.md). The pay step's
 * hosted checkout and 3-D Secure wait on this too: `hurry` starts the pauses again from the
 * shortest when the customer leaves to pay on the payment server's page. */
import { useCallback, useEffect, useRef, useState } from "react";

import type { Servers } from "../mcp";
import type { UpgradeOrder } from "../types";
import { pollDelay } from "./backoff";

const WAITING = "awaiting_payment";
const MAX_TIMER_MS = 2 ** 31 - 1 - 500;

export function useLiveOrder(
  servers: Servers,
  initial: UpgradeOrder | null,
  delay: (attempt: number) => number = pollDelay,
): [UpgradeOrder | null, (order: UpgradeOrder) => void, () => void] {
  const [order, setOrder] = useState<UpgradeOrder | null>(initial);
  const restart = useRef<(() => void) | null>(null);
  const orderId = order?.order_id ?? null;
  const status = order?.status ?? null;
  const expiresAt = order?.hold_expires_at ?? null;

  useEffect(() => {
    if (orderId === null || status !== WAITING) {
      return;
    }
    let stopped = false;
    let timer: number | undefined;
    let attempt = 0;

    const schedule = (ms: number) => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void poll(), ms);
    };
    const poll = async () => {
      if (document.visibilityState === "hidden") {
        return; // picked up again when the page is shown
      }
      try {
        const fresh = await servers.ticket<UpgradeOrder>("get_upgrade_order", { order_id: orderId });
        if (stopped) {
          return;
        }
        if (fresh.status !== status) {
          setOrder(fresh); // a new status: this effect ends and, if still waiting, starts again
          return;
        }
      } catch {
        // A failed look is no news; the next one comes after a longer pause.
      }
      if (!stopped) {
        schedule(delay(attempt++));
      }
    };
    const onVisibility = () => {
      if (document.visibilityState === "visible") {
        attempt = 0;
        schedule(0);
      }
    };
    restart.current = () => {
      attempt = 0;
      schedule(delay(attempt++));
    };
    document.addEventListener("visibilitychange", onVisibility);
    schedule(delay(attempt++));
    // When the hold's time is up, ask at once rather than at the next pause.
    const untilExpiry = expiresAt === null ? Number.NaN : Date.parse(expiresAt) - Date.now();
    // (A hold beyond a timer's range, about 24 days, would fire at once: not watched for.)
    const expiry =
      Number.isFinite(untilExpiry) && untilExpiry < MAX_TIMER_MS
        ? window.setTimeout(() => schedule(0), Math.max(0, untilExpiry) + 500)
        : undefined;
    return () => {
      stopped = true;
      restart.current = null;
      window.clearTimeout(timer);
      window.clearTimeout(expiry);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [servers, orderId, status, expiresAt, delay]);

  const hurry = useCallback(() => restart.current?.(), []);
  return [order, setOrder, hurry];
}
