/** Month grids and keyboard movement for the priced calendar, on ISO dates in UTC arithmetic
 * (a calendar date has no time zone; the server already chose the venue's). */

export function addDays(iso: string, days: number): string {
  const day = new Date(`${iso}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + days);
  return day.toISOString().slice(0, 10);
}

export function monthOf(iso: string): { year: number; month: number } {
  return { year: Number(iso.slice(0, 4)), month: Number(iso.slice(5, 7)) };
}

export function addMonths(year: number, month: number, months: number): { year: number; month: number } {
  const index = year * 12 + (month - 1) + months;
  return { year: Math.floor(index / 12), month: (index % 12) + 1 };
}

/** The month as weeks of seven cells, Monday first; cells outside the month are null. */
export function monthWeeks(year: number, month: number): (string | null)[][] {
  const first = new Date(Date.UTC(year, month - 1, 1));
  const length = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const lead = (first.getUTCDay() + 6) % 7;
  const cells: (string | null)[] = Array.from({ length: lead }, () => null);
  for (let day = 1; day <= length; day += 1) {
    cells.push(`${year}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`);
  }
  while (cells.length % 7 !== 0) {
    cells.push(null);
  }
  const weeks: (string | null)[][] = [];
  for (let start = 0; start < cells.length; start += 7) {
    weeks.push(cells.slice(start, start + 7));
  }
  return weeks;
}

/** Where a key moves the focus from `iso` (the WAI-ARIA date grid pattern), or null for a key
 * the grid does not handle. */
export function moveFocus(iso: string, key: string): string | null {
  const weekday = (new Date(`${iso}T00:00:00Z`).getUTCDay() + 6) % 7;
  switch (key) {
    case "ArrowLeft":
      return addDays(iso, -1);
    case "ArrowRight":
      return addDays(iso, 1);
    case "ArrowUp":
      return addDays(iso, -7);
    case "ArrowDown":
      return addDays(iso, 7);
    case "Home":
      return addDays(iso, -weekday);
    case "End":
      return addDays(iso, 6 - weekday);
    case "PageUp":
    case "PageDown": {
      const { year, month } = monthOf(iso);
      const target = addMonths(year, month, key === "PageUp" ? -1 : 1);
      const last = new Date(Date.UTC(target.year, target.month, 0)).getUTCDate();
      const day = Math.min(Number(iso.slice(8, 10)), last);
      return `${target.year}-${String(target.month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
    }
    default:
      return null;
  }
}
