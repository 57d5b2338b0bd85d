/** Runtime configuration, read from /config.json beside the app, so that one build serves every
 * environment (dev identity provider locally, Cognito in AWS). */
export interface AppConfig {
  issuer: string;
  client_id: string;
  ticket_url: string;
  payment_url: string;
  /** The concierge's chat API; by default the host that serves this app (same origin). */
  chat_url: string;
}

export const DEFAULT_CHAT_URL = "/api/chat";

const KEYS = ["issuer", "client_id", "ticket_url", "payment_url"] as const;

export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== "object" || raw === null) {
    throw new Error("config.json is not an object");
  }
  const record = raw as Record<string, unknown>;
  const missing = KEYS.filter((key) => typeof record[key] !== "string" || record[key] === "");
  if (missing.length > 0) {
    throw new Error(`config.json lacks ${missing.join(", ")}`);
  }
  return {
    issuer: record["issuer"] as string,
    client_id: record["client_id"] as string,
    ticket_url: record["ticket_url"] as string,
    payment_url: record["payment_url"] as string,
    chat_url: typeof record["chat_url"] === "string" && record["chat_url"] !== "" ? record["chat_url"] : DEFAULT_CHAT_URL,
  };
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<AppConfig> {
  const response = await fetchImpl("/config.json", { cache: "no-store" });
  if (!response.ok) {
    throw new Error(`config.json answered ${response.status}`);
  }
  return parseConfig(await response.json());
}
