/** The button that opens the concierge chat, and the chat itself, loaded the first time it is
 * opened (it is not part of the first page's JavaScript). Closing it only hides it, so the
 * conversation and its session last as long as the page. */
import { Suspense, lazy, useCallback, useState } from "react";

import type { ChatRequest } from "./client";
import { sendChat } from "./client";

const ChatPanel = lazy(() => import("./ChatPanel"));

interface Props {
  url: string;
  token: () => Promise<string | null>;
  ticketNumber: string | null;
  onPay: (orderId: string) => void;
}

export function ChatDock({ url, token, ticketNumber, onPay }: Props) {
  const [open, setOpen] = useState(false);
  const [opened, setOpened] = useState(false);
  const send = useCallback((request: ChatRequest) => sendChat(url, token, request), [url, token]);
  return (
    <aside className="chat-dock" aria-label="Concierge chat">
      <button
        type="button"
        aria-expanded={open}
        aria-controls="chat-panel"
        onClick={() => {
          setOpen(!open);
          setOpened(true);
        }}
      >
        {open ? "Close the chat" : "Chat with the concierge"}
      </button>
      <div id="chat-panel" hidden={!open}>
        {opened ? (
          <Suspense fallback={<output className="loading">Loading the chat…</output>}>
            <ChatPanel send={send} ticketNumber={ticketNumber} onPay={onPay} />
          </Suspense>
        ) : null}
      </div>
    </aside>
  );
}
