"""The sink's SMTP session: aiosmtpd's, with a cheaper reading of plain addresses.

aiosmtpd reads the address of every MAIL FROM and RCPT TO with the email package's RFC 5322
header parser, and defines a ``typing.Protocol`` class on each call to do it: about a fifth of
the sink's CPU per e-mail in a send burst (bench/README.md, "E-mail"). Nearly every address a
sender writes is a plain ``<local@domain>`` of dot-atoms, which a regular expression reads the
same way; anything else (comments, quoted local parts, domain literals, non-ASCII, a null
sender) still goes to aiosmtpd's parser. ``tests/ticketing/test_sink_smtp.py`` checks that both
give the same answer for any argument, and that aiosmtpd still reads addresses through
``_getaddr``.

Imported by :func:`ticketing.mailsink.serve` only, so that ``ticketing mail`` starts without
aiosmtpd.
"""

from __future__ import annotations

import re

from aiosmtpd.smtp import SMTP

# RFC 5322 atext, ASCII only: a dot-atom is atoms of these joined by single dots.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_PLAIN_ADDRESS = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>[ \t]*")


class SinkSMTP(SMTP):
    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = _PLAIN_ADDRESS.match(arg)
        # After the address the header parser also skips comments: those, like every address
        # the expression does not read, are left to it.
        if plain is None or arg[plain.end() : plain.end() + 1] == "(":
            return super()._getaddr(arg)
        address = plain.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[plain.end() :]
