"""Help texts and the hand-off to a person: the venue knowledge file served as MCP resources
and searched by ``search_help``, and ``request_human_help``, which opens a support case."""
