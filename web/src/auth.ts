/** Sign-in with authorization code + PKCE (oidc-client-ts). The tokens live in memory only: a
 * reload signs the customer in again, and sign-out forgets everything. Only the short-lived
 * sign-in state (PKCE verifier and `state`) crosses the redirect, in sessionStorage, and
 * oidc-client-ts removes it when the callback is processed. */
import { InMemoryWebStorage, UserManager, WebStorageStateStore, type User } from "oidc-client-ts";

import type { AppConfig } from "./config";
import { CALLBACK_PATH, placeOf, type Place, type Step } from "./live/place";

// tickets/catalogue: the price page; concierge/chat: the chat panel calls the host's chat API
// with the same token.
const SCOPES = "openid tickets/read tickets/write tickets/catalogue payments/read payments/write concierge/chat";

export function createUserManager(config: AppConfig, origin: string): UserManager {
  return new UserManager({
    authority: config.issuer,
    client_id: config.client_id,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${origin}/`,
    response_type: "code",
    scope: SCOPES,
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage }),
    automaticSilentRenew: true,
    loadUserInfo: false,
  });
}

/** Starts a sign-in that comes back to the page the customer is on (a deep link such as
 * /orders survives it) and, after a session that ended, to the step of the ticket's flow they
 * were on (live/place.ts). */
export async function signIn(manager: Pick<UserManager, "signinRedirect">, step: Step | null = null): Promise<void> {
  const place: Place = { path: window.location.pathname, step };
  await manager.signinRedirect({ state: place });
}

/** Completes a sign-in when the identity provider sent the browser back to the callback; then
 * puts the address back to the page the sign-in started on, so a reload does not replay the
 * code. */
export async function completeSignIn(manager: UserManager): Promise<User | null> {
  if (window.location.pathname !== CALLBACK_PATH) {
    return manager.getUser();
  }
  let back = "/";
  try {
    const user = await manager.signinRedirectCallback();
    back = placeOf(user.state).path;
    return user;
  } finally {
    window.history.replaceState(null, "", back);
  }
}

/** The access token to call the servers with: renewed first (refresh token grant) when it has
 * expired; when it cannot be renewed the user is forgotten, which brings back the sign-in. */
export async function currentToken(
  manager: Pick<UserManager, "getUser" | "signinSilent" | "removeUser">,
): Promise<string | null> {
  const user = await manager.getUser();
  if (user === null || !user.expired) {
    return user?.access_token ?? null;
  }
  try {
    return (await manager.signinSilent())?.access_token ?? null;
  } catch {
    await manager.removeUser();
    return null;
  }
}

/** Revokes the refresh token at the issuer (it would otherwise stay usable after the page is
 * gone), then forgets the user and any sign-in state. */
export async function signOut(manager: UserManager): Promise<void> {
  try {
    await manager.revokeTokens(["refresh_token"]);
  } catch {
    // An unreachable issuer must not keep the customer signed in on this page.
  }
  await manager.removeUser();
  await manager.clearStaleState();
  window.sessionStorage.clear();
}
