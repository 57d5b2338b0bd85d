/** Configuration, sign-in and sign-out around the customer's flow. */
import type { User, UserManager } from "oidc-client-ts";
import { Suspense, lazy, useEffect, useRef, useState } from "react";

import { completeSignIn, createUserManager, signIn, signOut } from "./auth";
import { loadConfig, type AppConfig } from "./config";
import { placeOf, type Step } from "./live/place";
import { Link } from "./Nav";
import { useDocumentTitle, useRoute } from "./router";

// The MCP client and the screens behind sign-in load after it, so the first page stays small.
const SignedIn = lazy(() => import("./SignedIn"));
// Likewise the visitors' price page, loaded only when it is opened.
const PublicPrices = lazy(() => import("./PublicPrices"));

type Boot =
  | { state: "starting" }
  | { state: "failed"; message: string }
  | { state: "ready"; config: AppConfig; manager: UserManager; user: User | null };

export function App() {
  const [boot, setBoot] = useState<Boot>({ state: "starting" });
  const started = useRef(false);
  const route = useRoute();
  // The step of the ticket's flow the customer is on; kept when the session ends, to return to
  // the same ticket, tier and day after signing in again (the address is the page). Sign-out
  // forgets it.
  const step = useRef<Step | null>(null);
  const leaving = useRef(false);
  const [ended, setEnded] = useState(false);

  useEffect(() => {
    // React's development double effect must not process the one-time callback code twice.
    if (started.current) {
      return;
    }
    started.current = true;
    (async () => {
      const config = await loadConfig();
      const manager = createUserManager(config, window.location.origin);
      const user = await completeSignIn(manager);
      manager.events.addUserLoaded((next) => setBoot({ state: "ready", config, manager, user: next }));
      manager.events.addUserUnloaded(() => {
        setEnded(!leaving.current);
        setBoot({ state: "ready", config, manager, user: null });
      });
      setBoot({ state: "ready", config, manager, user });
    })().catch((error: unknown) => setBoot({ state: "failed", message: `Sign-in could not start: ${String(error)}` }));
  }, []);

  const welcome = boot.state !== "ready" || (boot.user === null && route.page !== "prices");
  useDocumentTitle(welcome ? null : route);

  return (
    <>
      <header className="top">
        <h1>Ticket upgrades</h1>
        {boot.state === "ready" && boot.user !== null ? (
          <div className="who">
            <span>{String(boot.user.profile["email"] ?? boot.user.profile.sub)}</span>
            <button
              type="button"
              onClick={() => {
                leaving.current = true;
                step.current = null;
                void signOut(boot.manager);
              }}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      <main>
        {boot.state === "starting" && (
          <output className="loading">Loading…</output>
        )}
        {boot.state === "failed" && <p role="alert">{boot.message}</p>}
        {boot.state === "ready" &&
          (boot.user === null ? (
            <>
              {/* Visitors: the public price page, or the welcome with sign-in. */}
              <section aria-labelledby="welcome-title">
                <h2 id="welcome-title">{route.page === "prices" ? "Upgrade your ticket" : "Welcome"}</h2>
                {ended ? (
                  <p role="alert">Your session has ended. Sign in again to continue where you left off.</p>
                ) : (
                  <p>Sign in to see your tickets and upgrade them.</p>
                )}
                <button type="button" onClick={() => void signIn(boot.manager, step.current)}>
                  Sign in
                </button>
                {route.page === "prices" ? null : (
                  <p>
                    <Link to={{ page: "prices" }}>See upgrade prices</Link> without signing in.
                  </p>
                )}
              </section>
              {route.page === "prices" && (
                <Suspense fallback={<output className="loading">Loading…</output>}>
                  <PublicPrices />
                </Suspense>
              )}
            </>
          ) : (
            <Suspense fallback={<output className="loading">Loading…</output>}>
              <SignedIn
                config={boot.config}
                manager={boot.manager}
                resume={placeOf(boot.user.state).step}
                onStep={(next) => {
                  step.current = next;
                }}
              />
            </Suspense>
          ))}
      </main>
    </>
  );
}

