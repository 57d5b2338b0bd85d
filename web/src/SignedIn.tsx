/** The signed-in part of the app: the servers, called with the customer's token, the flow, and
 * the concierge chat beside it (which knows the ticket on screen and can open a pay step). */
import type { UserManager } from "oidc-client-ts";
import { useCallback, useMemo } from "react";

import { currentToken } from "./auth";
import { ChatDock } from "./chat/ChatDock";
import type { AppConfig } from "./config";
import type { Step } from "./live/place";
import { connectServers } from "./mcp";
import { navigate, useRoute } from "./router";
import { Shop } from "./Shop";

interface Props {
  config: AppConfig;
  manager: UserManager;
  /** The step of a ticket's flow to return to: where the customer was when their session ended. */
  resume: Step | null;
  onStep: (step: Step | null) => void;
}

export default function SignedIn({ config, manager, resume, onStep }: Props) {
  // The token is read on each call, so a renewed one is used at once.
  const token = useCallback(() => currentToken(manager), [manager]);
  const servers = useMemo(() => connectServers(config, token), [config, token]);
  const route = useRoute();
  return (
    <div className="signed-in">
      <div className="flow">
        <Shop servers={servers} resume={resume} onStep={onStep} />
      </div>
      <ChatDock
        url={config.chat_url}
        token={token}
        ticketNumber={route.page === "ticket" ? route.ticket : null}
        onPay={(orderId) => navigate({ page: "pay", orderId })}
      />
    </div>
  );
}
