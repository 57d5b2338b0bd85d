/** The signed-in part of the app: the servers, called with the customer's token, and the flow. */
import type { UserManager } from "oidc-client-ts";
import { useMemo } from "react";

import { currentToken } from "./auth";
import type { AppConfig } from "./config";
import { connectServers } from "./mcp";
import { Shop } from "./Shop";

export default function SignedIn({ config, manager }: { config: AppConfig; manager: UserManager }) {
  // The token is read on each call, so a renewed one is used at once.
  const servers = useMemo(() => connectServers(config, () => currentToken(manager)), [config, manager]);
  return <Shop servers={servers} />;
}
