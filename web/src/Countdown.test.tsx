import { act, cleanup, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { Countdown } from "./Checkout";

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse("2026-12-05T10:00:00Z") });
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("the hold countdown", () => {
  it("counts down each second and says when the hold has expired", () => {
    render(<Countdown until="2026-12-05T10:00:03Z" />);
    expect(screen.getByRole("timer").textContent).toBe("0:03");
    act(() => vi.advanceTimersByTime(1000));
    expect(screen.getByRole("timer").textContent).toBe("0:02");
    act(() => vi.advanceTimersByTime(2000));
    expect(screen.queryByRole("timer")).toBeNull();
    expect(screen.getByRole("alert").textContent).toBe("Your hold has expired; please choose the date again.");
  });
});
