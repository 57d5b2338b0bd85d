"""The concierge host: an LLM that helps customers through the MCP servers' own tools."""
