/** Public prices for a visitor who is not signed in: the app's server calls the ticket
 * server's catalogue tools with its own catalogue-only token (host/catalogue.py), so the
 * browser needs none. Same surface as an MCP call, so the price page works either way. */
import { ToolError, parseToolError } from "./errors";
import type { CallTool } from "./mcp";

export const publicCatalogue: CallTool = async <T,>(name: string, args: Record<string, unknown>): Promise<T> => {
  let response: Response;
  try {
    response = await fetch(`/api/catalogue/${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(args),
    });
  } catch (error) {
    throw new ToolError("NETWORK", String(error));
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    throw typeof body["error"] === "string" ? parseToolError(body["error"]) : new ToolError("UNAVAILABLE", `HTTP ${response.status}`);
  }
  return body as T;
};
