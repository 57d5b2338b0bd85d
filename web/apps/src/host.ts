/** A minimal MCP Apps host, for the browser tests: the host side of @modelcontextprotocol/ext-apps
 * (AppBridge) rendering one app in a sandboxed iframe. It hands the app a tool's input and result
 * and passes the app's tools/call on to `window.forwardToolCall`, which the test provides: there
 * the call goes to the real ticket server with the customer's token, as an assistant's host
 * would send it. */
import {
  AppBridge,
  PostMessageTransport,
  type McpUiUpdateModelContextRequest,
} from "@modelcontextprotocol/ext-apps/app-bridge";
import type { CallToolRequest, CallToolResult } from "@modelcontextprotocol/sdk/types.js";

declare global {
  interface Window {
    forwardToolCall: (params: CallToolRequest["params"]) => Promise<CallToolResult>;
    mcpHost: { show: (view: View) => Promise<void> };
    /** Every tools/call the app made (name and arguments), for the test to check. */
    toolCalls: { name: string; arguments: Record<string, unknown> }[];
    /** Every ui/update-model-context the app sent: what the model would see next turn. */
    modelContext: McpUiUpdateModelContextRequest["params"][];
  }
}

interface View {
  html: string;
  title: string;
  arguments: Record<string, unknown>;
  result: CallToolResult;
}

async function show(view: View): Promise<void> {
  const frame = document.createElement("iframe");
  // Scripts only: the app gets an opaque origin, no access to this page, its storage or cookies.
  frame.setAttribute("sandbox", "allow-scripts");
  frame.title = view.title;
  frame.style.width = "100%";
  frame.style.border = "1px solid #999";
  frame.srcdoc = view.html;
  document.getElementById("host")!.append(frame);
  const target = frame.contentWindow!;

  const bridge = new AppBridge(
    null,
    { name: "ticketing-test-host", version: "1.0.0" },
    { serverTools: {}, logging: {}, updateModelContext: { text: {} } },
  );
  bridge.oncalltool = async (params) => {
    window.toolCalls.push({ name: params.name, arguments: params.arguments ?? {} });
    return window.forwardToolCall(params);
  };
  bridge.onupdatemodelcontext = async (params) => {
    window.modelContext.push(params);
    return {};
  };
  bridge.onsizechange = ({ height }) => {
    if (height !== undefined) {
      frame.style.height = `${height}px`;
    }
  };
  // The spec's order: nothing goes to the view before it says it is initialized.
  bridge.oninitialized = () => {
    void bridge
      .sendToolInput({ arguments: view.arguments })
      .then(() => bridge.sendToolResult(view.result));
  };
  await bridge.connect(new PostMessageTransport(target, target));
}

window.toolCalls = [];
window.modelContext = [];
window.mcpHost = { show };
