import { act, cleanup, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { ToolError } from "../errors";
import type { CallTool, Servers } from "../mcp";
import type { UpgradeOrder } from "../types";
import { pollDelay, withRetry } from "./backoff";
import { useLiveOrder } from "./useLiveOrder";

const NOW = Date.parse("2026-12-05T10:00:00Z");
const HELD: UpgradeOrder = {
  order_id: "ord_1",
  ticket_number: "TKT-1",
  tier: "non_stop",
  visit_date: "2027-01-07",
  amount_cents: 5000,
  currency: "USD",
  status: "awaiting_payment",
  hold_expires_at: "2026-12-05T10:15:00Z",
  confirmation_code: null,
};

/** A ticket server whose order the test changes "elsewhere"; it counts the looks. */
function serverWith(order: { current: UpgradeOrder }) {
  const looks: number[] = [];
  const ticket: CallTool = async <T,>(name: string) => {
    expect(name).toBe("get_upgrade_order");
    looks.push(Date.now() - NOW);
    return order.current as T;
  };
  const servers: Servers = { ticket, payment: ticket };
  return { servers, looks };
}

function Status({ servers, delay = pollDelay }: { servers: Servers; delay?: (attempt: number) => number }) {
  const [order] = useLiveOrder(servers, HELD, delay);
  return <p>{order?.status}</p>;
}

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("an order on screen", () => {
  it("shows a payment confirmed elsewhere without a reload, then stops asking", async () => {
    const order = { current: HELD };
    const { servers, looks } = serverWith(order);
    render(<Status servers={servers} />);
    await act(async () => vi.advanceTimersByTimeAsync(5_000));
    expect(looks).toEqual([2_000, 5_000]); // 2 s, then 3 s later
    expect(screen.getByText("awaiting_payment")).toBeTruthy();

    order.current = { ...HELD, status: "confirmed", confirmation_code: "UPG-1" };
    await act(async () => vi.advanceTimersByTimeAsync(4_500));
    expect(screen.getByText("confirmed")).toBeTruthy();
    await act(async () => vi.advanceTimersByTimeAsync(60_000));
    expect(looks).toHaveLength(3);
  });

  it("does not ask while the page is hidden, and asks at once when it is shown", async () => {
    const { servers, looks } = serverWith({ current: HELD });
    const visibility = vi.spyOn(document, "visibilityState", "get").mockReturnValue("hidden");
    render(<Status servers={servers} />);
    await act(async () => vi.advanceTimersByTimeAsync(60_000));
    expect(looks).toEqual([]);

    visibility.mockReturnValue("visible");
    await act(async () => {
      document.dispatchEvent(new Event("visibilitychange"));
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(looks).toEqual([60_000]);
    visibility.mockRestore();
  });

  it("asks as soon as the hold's time is up rather than at the next pause", async () => {
    const order = { current: HELD };
    const { servers, looks } = serverWith(order);
    render(<Status servers={servers} delay={() => 3_600_000} />);
    order.current = { ...HELD, status: "expired" };
    await act(async () => vi.advanceTimersByTimeAsync(15 * 60_000 + 499));
    expect(looks).toEqual([]);
    expect(screen.getByText("awaiting_payment")).toBeTruthy();
    await act(async () => vi.advanceTimersByTimeAsync(10));
    expect(looks).toHaveLength(1); // at the expiry, not an hour later
    expect(looks[0]).toBeLessThan(15 * 60_000 + 510);
    expect(screen.getByText("expired")).toBeTruthy();
  });

  it("backs off from 2 s to at most 15 s", () => {
    expect([0, 1, 2, 3, 10].map(pollDelay)).toEqual([2_000, 3_000, 4_500, 6_750, 15_000]);
  });
});

describe("a call that could not reach its server", () => {
  it("is tried again after each pause, and the last failure is shown", async () => {
    vi.useRealTimers();
    const pauses: number[] = [];
    let calls = 0;
    const network = () => new ToolError("NETWORK", "Failed to fetch");
    const flaky = async () => {
      calls += 1;
      if (calls < 3) {
        throw network();
      }
      return "ok";
    };
    const isNetwork = (error: unknown) => error instanceof ToolError && error.code === "NETWORK";
    const pause = async (ms: number) => {
      pauses.push(ms);
    };
    expect(await withRetry(flaky, isNetwork, [300, 1_000], pause)).toBe("ok");
    expect(pauses).toEqual([300, 1_000]);

    calls = -10;
    await expect(withRetry(flaky, isNetwork, [300, 1_000], pause)).rejects.toMatchObject({ code: "NETWORK" });
    expect(calls).toBe(-7);
  });

  it("is not repeated when the server answered with an error", async () => {
    let calls = 0;
    const refused = async () => {
      calls += 1;
      throw new ToolError("SOLD_OUT", "no seats");
    };
    await expect(
      withRetry(refused, (error) => error instanceof ToolError && error.code === "NETWORK", [1], async () => {}),
    ).rejects.toMatchObject({ code: "SOLD_OUT" });
    expect(calls).toBe(1);
  });
});
