/** A month of one tier's prices: each day's price, band and seats left; days that cannot be
 * booked stay focusable (aria-disabled) so keyboard and screen-reader users hear why. */
import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";

import { addMonths, monthOf, monthWeeks, moveFocus } from "./calendar";
import { reasonText } from "./errors";
import { BAND_NAMES, formatCents, formatDate, monthName } from "./format";
import type { Band, CalendarDay } from "./types";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const OUT_OF_WINDOW = "Not offered: outside the booking window.";

interface Props {
  days: CalendarDay[];
  onChoose: (day: CalendarDay) => void;
}

function explain(day: CalendarDay | undefined): string {
  if (day === undefined) {
    return OUT_OF_WINDOW;
  }
  if (day.available) {
    return `${formatCents(day.price_cents, day.currency)}, ${BAND_NAMES[day.band]} price, ${day.seats_left} seats left`;
  }
  return reasonText(day.reason).full;
}

export function Calendar({ days, onChoose }: Props) {
  const byDate = useMemo(() => new Map(days.map((day) => [day.date, day])), [days]);
  const firstOpen = days.find((day) => day.available)?.date ?? days[0]?.date ?? "";
  const [focused, setFocused] = useState(firstOpen);
  const [shown, setShown] = useState(() => monthOf(firstOpen));
  const grid = useRef<HTMLTableElement>(null);
  const moved = useRef(false);

  useEffect(() => {
    if (moved.current) {
      grid.current?.querySelector<HTMLButtonElement>(`[data-date="${focused}"]`)?.focus();
    }
  }, [focused]);

  if (days.length === 0) {
    return <p>No dates can be booked for this tier.</p>;
  }

  const focus = (iso: string) => {
    moved.current = true;
    setFocused(iso);
    setShown(monthOf(iso));
  };
  const onKeyDown = (event: KeyboardEvent<HTMLButtonElement>) => {
    const next = moveFocus(focused, event.key);
    if (next !== null) {
      event.preventDefault();
      focus(next);
    }
  };
  const turn = (months: number) => {
    const target = addMonths(shown.year, shown.month, months);
    setShown(target);
    setFocused(`${target.year}-${String(target.month).padStart(2, "0")}-01`);
  };
  const title = monthName(shown.year, shown.month);

  return (
    <section aria-label="Choose a date" className="calendar">
      <div className="calendar-head">
        <button type="button" onClick={() => turn(-1)} aria-label="Previous month">
          ‹
        </button>
        <h3 id="calendar-month" aria-live="polite">
          {title}
        </h3>
        <button type="button" onClick={() => turn(1)} aria-label="Next month">
          ›
        </button>
      </div>
      {/* A table of buttons with the date-grid keys of WAI-ARIA's date picker: one day is in the
          tab order; arrows, Home/End and Page Up/Down move within the month and across months. */}
      <table aria-labelledby="calendar-month" ref={grid}>
        <thead>
          <tr>
            {WEEKDAYS.map((name) => (
              <th key={name} scope="col">
                {name}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {monthWeeks(shown.year, shown.month).map((week, index) => (
            <tr key={index}>
              {week.map((iso, column) => {
                if (iso === null) {
                  return <td key={`blank-${column}`} aria-hidden="true" />;
                }
                const day = byDate.get(iso);
                const open = day?.available === true;
                const label = `${formatDate(iso)}: ${explain(day)}`;
                return (
                  <td key={iso}>
                    <button
                      type="button"
                      data-date={iso}
                      className={open ? `day ${day.band}` : "day closed"}
                      tabIndex={iso === focused ? 0 : -1}
                      aria-disabled={!open}
                      title={label}
                      onFocus={() => setFocused(iso)}
                      onKeyDown={onKeyDown}
                      onClick={() => {
                        if (open) {
                          onChoose(day);
                        }
                      }}
                    >
                      <span className="day-number">{Number(iso.slice(8, 10))}</span>
                      {day === undefined ? (
                        <span className="day-reason">Not offered</span>
                      ) : open ? (
                        <>
                          <span className="day-price">{formatCents(day.price_cents, day.currency)}</span>
                          <span className="day-seats">{day.seats_left} left</span>
                        </>
                      ) : (
                        <span className="day-reason">{reasonText(day.reason).short}</span>
                      )}
                      {/* The accessible name starts with what is visible (WCAG 2.5.3) and then
                          says the whole day, for those who cannot see the grid. */}
                      <span className="sr-only">, {label}</span>
                    </button>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <ul className="legend" aria-label="Price bands">
        {(Object.keys(BAND_NAMES) as Band[]).map((band) => (
          <li key={band} className={`day ${band}`}>
            {BAND_NAMES[band]}
          </li>
        ))}
      </ul>
      <p className="calendar-focus" aria-live="polite">
        {focused === "" ? "" : `${formatDate(focused)}: ${explain(byDate.get(focused))}`}
      </p>
      <p className="hint">Arrow keys move by day and week, Page Up/Down by month; Enter chooses.</p>
    </section>
  );
}
