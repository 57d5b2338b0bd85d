import type { User } from "oidc-client-ts";
import { describe, expect, it } from "vitest";

import { currentToken } from "./auth";

function manager(user: Partial<User> | null, renewed: Partial<User> | Error) {
  const events: string[] = [];
  return {
    events,
    getUser: async () => user as User | null,
    signinSilent: async () => {
      events.push("renew");
      if (renewed instanceof Error) {
        throw renewed;
      }
      return renewed as User;
    },
    removeUser: async () => {
      events.push("forget");
    },
  };
}

describe("the token the servers are called with", () => {
  it("is the signed-in user's while it is valid", async () => {
    const fake = manager({ access_token: "a1", expired: false }, { access_token: "a2" });
    expect(await currentToken(fake)).toBe("a1");
    expect(fake.events).toEqual([]);
  });

  it("is renewed once it has expired", async () => {
    const fake = manager({ access_token: "a1", expired: true }, { access_token: "a2" });
    expect(await currentToken(fake)).toBe("a2");
    expect(fake.events).toEqual(["renew"]);
  });

  it("is gone, and the user forgotten, when it cannot be renewed", async () => {
    const fake = manager({ access_token: "a1", expired: true }, new Error("invalid_grant"));
    expect(await currentToken(fake)).toBeNull();
    expect(fake.events).toEqual(["renew", "forget"]);
  });

  it("is null before sign-in", async () => {
    expect(await currentToken(manager(null, { access_token: "a2" }))).toBeNull();
  });
});
