/** The app's MCP client: the ticket and payment servers over streamable HTTP, called with the
 * signed-in customer's own access token, exactly as an assistant would call them. */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

import { ToolError, parseToolError } from "./errors";
import { withRetry } from "./live/backoff";

export type CallTool = <T>(name: string, args: Record<string, unknown>) => Promise<T>;

export interface Servers {
  ticket: CallTool;
  payment: CallTool;
}

interface TextPart {
  type: string;
  text?: string;
}

function connector(url: string, token: () => Promise<string | null>): CallTool {
  let client: Promise<Client> | null = null;

  const connect = async (): Promise<Client> => {
    const transport = new StreamableHTTPClientTransport(new URL(url), {
      // Read per request, so a renewed token is used without reconnecting.
      fetch: async (input, init) => {
        const headers = new Headers(init?.headers);
        const current = await token();
        if (current !== null) {
          headers.set("Authorization", `Bearer ${current}`);
        }
        return fetch(input, { ...init, headers });
      },
    });
    const next = new Client({ name: "ticketing-web", version: "0.1.0" });
    await next.connect(transport);
    return next;
  };

  const once = async (name: string, args: Record<string, unknown>) => {
    client ??= connect().catch((error: unknown) => {
      client = null;
      throw error;
    });
    try {
      return await (await client).callTool({ name, arguments: args });
    } catch (error) {
      const text = String(error);
      throw new ToolError(/401|invalid_token/.test(text) ? "UNAUTHENTICATED" : "NETWORK", text);
    }
  };

  return async <T>(name: string, args: Record<string, unknown>): Promise<T> => {
    // A call lost on the way (a dropped connection) is tried again before the customer is asked
    // to; every tool is safe to repeat with the same arguments.
    const result = await withRetry(
      () => once(name, args),
      (error) => error instanceof ToolError && error.code === "NETWORK",
    );
    if (result.isError === true) {
      const parts = (result.content ?? []) as TextPart[];
      throw parseToolError(parts.map((part) => part.text ?? "").join("\n"));
    }
    return result.structuredContent as T;
  };
}

export function connectServers(
  urls: { ticket_url: string; payment_url: string },
  token: () => Promise<string | null>,
): Servers {
  return { ticket: connector(urls.ticket_url, token), payment: connector(urls.payment_url, token) };
}
