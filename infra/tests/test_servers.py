"""How the app names a server's environment: from its settings class, aliases included."""

from __future__ import annotations

import pytest
from servers.ticket.settings import TicketSettings

from ticketing_infra.servers import DATA, NOTIFY, PAYMENT, TICKET, env_name, environment


def test_names_come_from_the_prefix_or_the_fields_own_alias() -> None:
    assert env_name(TicketSettings, "data_url") == "TICKET_DATA_URL"
    assert env_name(TicketSettings, "venue_tz") == "VENUE_TZ"
    assert env_name(TicketSettings, "dev_mode") == "DEV_MODE"


def test_a_field_the_class_does_not_have_fails_at_synth() -> None:
    with pytest.raises(ValueError, match="TicketSettings has no setting data_ulr"):
        environment(TicketSettings, {"data_ulr": "https://x"})


def test_the_scopes_of_each_server_are_its_resource_servers() -> None:
    assert DATA.scopes == ("data/read", "data/write")
    assert TICKET.scopes == (
        "tickets/read",
        "tickets/write",
        "tickets/catalogue",
        "tickets/operate",
        "tickets/webhooks",
    )
    assert PAYMENT.customer_facing
    assert TICKET.customer_facing
    assert not DATA.customer_facing
    assert not NOTIFY.customer_facing


def test_a_secret_goes_by_reference_only() -> None:
    arn = "arn:aws:secretsmanager:us-west-2:111111111111:secret:ticket-AbCdEf"
    env = environment(TicketSettings, {"client_id": "abc"}, {"client_secret": arn})
    assert env == {"TICKET_CLIENT_ID": "abc", "TICKET_CLIENT_SECRET_ARN": arn}
    with pytest.raises(ValueError, match="client_secret of TicketSettings go by reference"):
        environment(TicketSettings, {"client_secret": "s3cret"})
    with pytest.raises(ValueError, match="TicketSettings has no secret setting client_id"):
        environment(TicketSettings, {}, {"client_id": arn})
