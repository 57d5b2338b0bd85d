/** Component tests' stand-in for the ticket and payment servers: answers by tool name (a value,
 * a function of the arguments, or a ToolError to throw) and records every call. */
import { ToolError } from "./errors";
import type { CallTool, Servers } from "./mcp";

export type Answers = Record<string, unknown>;

export function fakeServers(answers: Answers) {
  const calls: { name: string; args: Record<string, unknown> }[] = [];
  const call: CallTool = async <T,>(name: string, args: Record<string, unknown>) => {
    calls.push({ name, args });
    const answer = answers[name];
    if (answer instanceof ToolError) {
      throw answer;
    }
    if (answer === undefined) {
      throw new ToolError("UNKNOWN_TOOL", name);
    }
    const value = typeof answer === "function" ? (answer as (a: Record<string, unknown>) => unknown)(args) : answer;
    if (value instanceof ToolError) {
      throw value;
    }
    return value as T;
  };
  const servers: Servers = { ticket: call, payment: call };
  return { servers, calls };
}
