/** An MCP App's side of the host: connects (ui/initialize) and keeps the last tool result the host
 * sent (ui/notifications/tool-result), already split into its structured content or the
 * customer's sentence for its error. */
import { useState } from "react";

import { useApp, type App } from "@modelcontextprotocol/ext-apps/react";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

import { humanMessage, parseToolError } from "../../src/errors";

export type { App };

export type Outcome<T> =
  | { state: "waiting" }
  | { state: "done"; value: T }
  | { state: "failed"; message: string };

/** A tool result as the app shows it: a tool error (`CODE: message`) becomes the same plain
 * sentence the web app shows for that code. */
export function outcomeOf<T>(result: CallToolResult): Outcome<T> {
  if (result.isError === true || result.structuredContent === undefined) {
    const text = result.content.map((block) => (block.type === "text" ? block.text : "")).join(" ");
    return { state: "failed", message: humanMessage(parseToolError(text)) };
  }
  return { state: "done", value: result.structuredContent as T };
}

export function useToolResult<T>(name: string): { app: App | null; result: Outcome<T>; error: Error | null } {
  const [result, setResult] = useState<Outcome<T>>({ state: "waiting" });
  const { app, error } = useApp({
    appInfo: { name, version: "1.0.0" },
    capabilities: {},
    // Set before connecting: the host may send the result as soon as the app is initialized.
    onAppCreated: (created) => {
      created.ontoolresult = (params) => setResult(outcomeOf<T>(params));
    },
  });
  return { app, result, error };
}
