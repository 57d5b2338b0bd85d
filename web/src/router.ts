/** The app's addresses, with the History API: `/`, `/tickets/:number`, `/orders`,
 * `/orders/:id/pay` (the pay step of a held order, opened from the chat), `/prices`.
 * Each screen has a URL of its own, so a reload, a bookmark or a shared link opens it again. */
import { useEffect, useState } from "react";

export type Route =
  | { page: "tickets" }
  | { page: "ticket"; ticket: string }
  | { page: "orders" }
  | { page: "pay"; orderId: string }
  | { page: "prices" }
  | { page: "missing"; path: string };

const TICKET_PATH = /^\/tickets\/([^/]+)\/?$/;
const PAY_PATH = /^\/orders\/([^/]+)\/pay\/?$/;

/** The one path segment, decoded; null for a malformed escape (no ticket or order id). */
function segment(match: RegExpExecArray | null): string | null {
  if (match === null) {
    return null;
  }
  try {
    return decodeURIComponent(match[1] ?? "");
  } catch {
    return null;
  }
}

export function parseRoute(path: string): Route {
  if (path === "/" || path === "") {
    return { page: "tickets" };
  }
  if (path === "/orders" || path === "/orders/") {
    return { page: "orders" };
  }
  if (path === "/prices" || path === "/prices/") {
    return { page: "prices" };
  }
  // A malformed escape is no ticket number or order id: the page is missing, not broken.
  const ticket = segment(TICKET_PATH.exec(path));
  if (ticket !== null) {
    return { page: "ticket", ticket };
  }
  const orderId = segment(PAY_PATH.exec(path));
  if (orderId !== null) {
    return { page: "pay", orderId };
  }
  return { page: "missing", path };
}

export function routePath(route: Route): string {
  switch (route.page) {
    case "tickets":
      return "/";
    case "ticket":
      return `/tickets/${encodeURIComponent(route.ticket)}`;
    case "orders":
      return "/orders";
    case "pay":
      return `/orders/${encodeURIComponent(route.orderId)}/pay`;
    case "prices":
      return "/prices";
    case "missing":
      return route.path;
  }
}

// pushState fires no event of its own: the app's links announce a move with this one.
const MOVED = "app:navigate";

export function navigate(route: Route): void {
  const path = routePath(route);
  if (path !== window.location.pathname) {
    window.history.pushState(null, "", path);
    window.dispatchEvent(new Event(MOVED));
  }
}

/** The route of the address bar, kept current through the app's links and Back/Forward. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.pathname));
    window.addEventListener("popstate", update);
    window.addEventListener(MOVED, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(MOVED, update);
    };
  }, []);
  return route;
}

const TITLES: Record<Route["page"], string> = {
  tickets: "My tickets",
  ticket: "Ticket",
  orders: "My orders",
  pay: "Pay",
  prices: "Upgrade prices",
  missing: "Not found",
};

export function pageTitle(route: Route): string {
  const page = route.page === "ticket" ? `Ticket ${route.ticket}` : TITLES[route.page];
  return `${page} · Ticket upgrades`;
}

/** The tab's title names the page, which a screen reader announces on a move; null is the
 * app's own name (the welcome page). */
export function useDocumentTitle(route: Route | null): void {
  useEffect(() => {
    document.title = route === null ? "Ticket upgrades" : pageTitle(route);
  }, [route]);
}
