#!/bin/sh
# The chat function's handler: the Lambda Web Adapter's exec wrapper (/opt/bootstrap) runs it
# in place of Python's own runtime, and the adapter relays each invocation to this server.
exec python3 -m servers.edge.chat
