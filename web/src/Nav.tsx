/** Links between the app's pages: real links (open in a new tab, copy the address) that move
 * inside the page without reloading it. */
import type { MouseEvent, ReactNode } from "react";

import { navigate, routePath, type Route } from "./router";

export function Link({ to, children, current }: { to: Route; children: ReactNode; current?: boolean }) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    // A modified or middle click keeps the browser's own behaviour (a new tab or window).
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={routePath(to)} onClick={onClick} aria-current={current === true ? "page" : undefined}>
      {children}
    </a>
  );
}

const PAGES: { route: Route; label: string }[] = [
  { route: { page: "tickets" }, label: "My tickets" },
  { route: { page: "orders" }, label: "My orders" },
  { route: { page: "prices" }, label: "Prices" },
];

/** The page of the menu a route belongs to: a ticket's flow is under My tickets, an order's pay
 * step under My orders. */
function section(route: Route): Route["page"] {
  switch (route.page) {
    case "ticket":
      return "tickets";
    case "pay":
      return "orders";
    default:
      return route.page;
  }
}

export function Nav({ route, signedIn }: { route: Route; signedIn: boolean }) {
  const shown = signedIn ? PAGES : PAGES.filter((item) => item.route.page === "prices");
  return (
    <nav aria-label="Main" className="nav">
      <ul>
        {shown.map((item) => (
          <li key={item.label}>
            <Link to={item.route} current={item.route.page === section(route)}>
              {item.label}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function NotFound({ what }: { what: string }) {
  return (
    <section aria-labelledby="missing-title">
      <h2 id="missing-title">{what} not found</h2>
      <p>We can't find it on your account. Check the address, or start again from your tickets.</p>
      <p>
        <Link to={{ page: "tickets" }}>Back to my tickets</Link>
      </p>
    </section>
  );
}
