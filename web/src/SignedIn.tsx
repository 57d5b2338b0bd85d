/** The signed-in part of the app: the servers, called with the customer's token, the flow, and
 * the concierge chat beside it (which knows the ticket on screen and can open a pay step). */
import type { UserManager } from "oidc-client-ts";
import { useCallback, useEffect, useMemo, useState } from "react";

import { currentToken } from "./auth";
import { ChatDock } from "./chat/ChatDock";
import type { AppConfig } from "./config";
import { connectServers } from "./mcp";
import { Shop, ticketOnScreen, type View } from "./Shop";

interface Props {
  config: AppConfig;
  manager: UserManager;
  /** Where to start: My tickets, or the place the customer was when their session ended. */
  initialView: View;
  onView: (view: View) => void;
}

export default function SignedIn({ config, manager, initialView, onView }: Props) {
  // The token is read on each call, so a renewed one is used at once.
  const token = useCallback(() => currentToken(manager), [manager]);
  const servers = useMemo(() => connectServers(config, token), [config, token]);
  const [view, setView] = useState<View>(initialView);
  useEffect(() => onView(view), [view, onView]);
  return (
    <div className="signed-in">
      <div className="flow">
        <Shop servers={servers} view={view} onView={setView} />
      </div>
      <ChatDock
        url={config.chat_url}
        token={token}
        ticketNumber={ticketOnScreen(view)}
        onPay={(orderId) => setView({ screen: "pay", orderId })}
      />
    </div>
  );
}
