/** Configuration, sign-in and sign-out around the customer's flow. */
import type { User, UserManager } from "oidc-client-ts";
import { Suspense, lazy, useEffect, useRef, useState } from "react";

import { completeSignIn, createUserManager, signOut } from "./auth";
import { loadConfig, type AppConfig } from "./config";
import { placeOf } from "./live/place";
import type { View } from "./Shop";

// The MCP client and the screens behind sign-in load after it, so the first page stays small.
const SignedIn = lazy(() => import("./SignedIn"));

type Boot =
  | { state: "starting" }
  | { state: "failed"; message: string }
  | { state: "ready"; config: AppConfig; manager: UserManager; user: User | null };

export function App() {
  const [boot, setBoot] = useState<Boot>({ state: "starting" });
  const started = useRef(false);
  // Where the customer is; kept when the session ends, to return there after signing in again
  // (Property 17). Sign-out forgets it.
  const place = useRef<View | null>(null);
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
        setEnded(place.current !== null);
        setBoot({ state: "ready", config, manager, user: null });
      });
      setBoot({ state: "ready", config, manager, user });
    })().catch((error: unknown) => setBoot({ state: "failed", message: `Sign-in could not start: ${String(error)}` }));
  }, []);

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
                place.current = null;
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
            <section aria-labelledby="welcome-title">
              <h2 id="welcome-title">Welcome</h2>
              {ended ? (
                <p role="alert">Your session has ended. Sign in again to continue where you left off.</p>
              ) : (
                <p>Sign in to see your tickets and upgrade them.</p>
              )}
              <button
                type="button"
                onClick={() => void boot.manager.signinRedirect(place.current === null ? undefined : { state: place.current })}
              >
                Sign in
              </button>
            </section>
          ) : (
            <Suspense fallback={<output className="loading">Loading…</output>}>
              <SignedIn
                config={boot.config}
                manager={boot.manager}
                initialView={placeOf(boot.user.state)}
                onView={(view) => {
                  place.current = view;
                }}
              />
            </Suspense>
          ))}
      </main>
    </>
  );
}

