#!/usr/bin/env bash
# Post-deploy smoke test (opt-in; needs the deployed stacks, never run by `make test`):
#   infra/smoke.sh [infra/cdk.out/outputs.json]
# Reads the URLs `make deploy` wrote and checks that each public door answers as designed
# without credentials: the registration edge's metadata, the ticket runtime's 401, the ticket
# and payment servers' own names (a 401 sending the client to their metadata, which names an
# authorization server that answers), the payment server's checkout page (its own 404 for an
# unknown session), the REST edge's 401 on /chat and 400 on a forged webhook. Where the AWS CLI has credentials, a test event signed with the webhook secret goes
# the whole way: the edge checks it, hands it to the ticket runtime with its own token, and the
# ticket server checks it again (200). With SMOKE_TOKEN set to a customer's access token
# (tickets/read), the MCP Inspector CLI (make tools) lists the ticket server's tools, through
# its own name and through AgentCore's invocation URL.
set -euo pipefail
outputs=${1:-"$(dirname "$0")/cdk.out/outputs.json"}
out() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' "$outputs" "$1" "$2"; }
status() { curl -sS -o /dev/null -w '%{http_code}' "$@"; }
expect() { # expect NAME WANT GOT
  if [[ "$3" == "$2" ]]; then echo "ok   $1 ($3)"; else echo "FAIL $1: wanted $2, got $3"; failed=1; fi
}
failed=0
registration=$(out TicketingEdge RegistrationApiUrl)
ticket=$(out TicketingWeb configTicketUrl)
chat=$(out TicketingRestEdge ChatUrl)
webhook=$(out TicketingRestEdge WebhookUrl)
ticket_mcp=$(out TicketingMcpDomains TicketMcpUrl)
payment_mcp=$(out TicketingMcpDomains PaymentMcpUrl)

expect "registration metadata" 200 \
  "$(status "$registration/.well-known/oauth-authorization-server")"
expect "ticket runtime without a token" 401 \
  "$(status -X POST -H 'content-type: application/json' -d '{}' "$ticket")"
for url in "$ticket_mcp" "$payment_mcp"; do
  metadata="${url%/mcp}/.well-known/oauth-protected-resource/mcp"
  challenge=$(curl -sS -o /dev/null -D - -X POST -H 'content-type: application/json' -d '{}' \
    "$url" | tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p')
  expect "$url without a token: our challenge" "Bearer resource_metadata=\"$metadata\"" \
    "$challenge"
  read -r resource issuer < <(curl -sS "$metadata" | python3 -c 'import json, sys
document = json.load(sys.stdin)
print(document["resource"], document["authorization_servers"][0])')
  expect "$url's metadata names it" "$url" "$resource"
  expect "$url's authorization server's metadata" 200 \
    "$(status "${issuer%/}/.well-known/oauth-authorization-server")"
done
# The hosted checkout page reaches the payment server's code (its HTML 404 for a session that
# does not exist, where the gateway's own 404 for an unknown path is JSON): one database read.
page=$(curl -sS -w '\n%{http_code}' "${payment_mcp%/mcp}/checkout/cs_$(printf 'a%.0s' {1..26})")
expect "checkout page of an unknown session, from the server" "404 Checkout not found" \
  "$(tail -n1 <<<"$page") $(grep -o 'Checkout not found' <<<"$page" | head -n1)"
expect "chat without a token" 401 \
  "$(status -X POST -H 'content-type: application/json' -d '{"message":"hi"}' "$chat")"
expect "forged webhook" 400 \
  "$(status -X POST -H 'Webhook-Signature: t=1,v1=00' -d '{"id":"evt_x"}' "$webhook")"

if command -v aws >/dev/null && aws sts get-caller-identity >/dev/null 2>&1; then
  secret=$(aws secretsmanager get-secret-value --output text --query SecretString \
    --secret-id "$(out TicketingRuntimes WebhookSecretArn)")
  now=$(date +%s)
  # An event of a kind the ticket server takes and does nothing with: no order is touched.
  body="{\"id\":\"evt_smoke_$now\",\"type\":\"smoke.test\",\"created\":$now,\"data\":{\"object\":{}}}"
  signature=$(SECRET="$secret" BODY="$body" NOW="$now" python3 -c 'import hashlib, hmac, os
print("t=%s,v1=%s" % (os.environ["NOW"], hmac.new(os.environ["SECRET"].encode(),
    ("%s.%s" % (os.environ["NOW"], os.environ["BODY"])).encode(), hashlib.sha256).hexdigest()))')
  expect "signed test event, handed to the ticket server" 200 \
    "$(status -X POST -H 'content-type: application/json' -H "Webhook-Signature: $signature" \
      -d "$body" "$webhook")"
else
  echo "skip signed test event (no AWS credentials)"
fi

if [[ -n "${SMOKE_TOKEN:-}" ]]; then
  inspector="$(dirname "$0")/../tools/node/node_modules/.bin/mcp-inspector"
  for url in "$ticket_mcp" "$ticket"; do
    if "$inspector" --cli "$url" --transport http --method tools/list \
        --header "Authorization: Bearer $SMOKE_TOKEN" | grep -q get_upgrade_options; then
      echo "ok   ticket tools/list with the customer's token at $url"
    else
      echo "FAIL ticket tools/list with the customer's token at $url"; failed=1
    fi
  done
fi
exit "$failed"
