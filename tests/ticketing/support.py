"""The sink's SMTP side in a test's own thread, as ``python -m ticketing.mailsink`` runs it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from ticketing.mailsink import Mailbox, SinkHandler
from ticketing.procs import free_port
from ticketing.sink_smtp import SinkSMTP


class SinkController(Controller):
    def factory(self) -> SMTP:
        return SinkSMTP(self.handler, **self.SMTP_kwargs)


@contextmanager
def sink_on(mailbox: Mailbox) -> Iterator[int]:
    """The sink's SMTP session keeping e-mails in ``mailbox``, on the port it yields."""
    port = free_port()
    controller = SinkController(SinkHandler(mailbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
