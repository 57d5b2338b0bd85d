"""``build_email`` writes an e-mail byte for byte as the email package's compat32 classes write
it (what it used them for until they were the notify server's largest cost per e-mail), for any
text, HTML, subject, sender and reply-to address."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32, default
from email.utils import format_datetime, formataddr, parseaddr

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from servers.notify.delivery import OutgoingEmail, build_email
from servers.notify.models import Message
from tests.notify.support import claimed_message

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)


def compat32_email(message: Message, reply_to: str | None, boundary: str) -> bytes:
    """The e-mail as the compat32 classes build it, with the given boundary."""
    email = MIMEMultipart("alternative", boundary=boundary)
    headers = {
        "From": message.sender,
        "To": message.to,
        "Subject": message.subject,
        "Date": format_datetime(message.created_at),
        "Message-ID": message.header_message_id,
    }
    if reply_to:
        headers["Reply-To"] = reply_to
    for name, value in headers.items():
        if value.isascii():
            email[name] = value
        elif name in {"From", "To", "Reply-To"}:
            email[name] = formataddr(parseaddr(value), charset="utf-8")
        else:
            email[name] = Header(value, "utf-8", maxlinelen=998, header_name=name).encode()
    for subtype, text in (("plain", message.text), ("html", message.html)):
        part = MIMENonMultipart("text", subtype)
        part.set_payload(text, _UTF8)
        email.attach(part)
    return email.as_bytes(policy=_WIRE)


def boundary_of(email: OutgoingEmail) -> str:
    found = re.match(rb'Content-Type: multipart/alternative; boundary="([^"]+)"\r\n', email.data)
    assert found is not None, email.data[:200]
    return found.group(1).decode()


# Any character a rendered template could hold: no surrogates (they are no text), line breaks
# of every kind in the bodies, no ASCII control but the tab in a header (the templates' context
# refuses them, servers/notify/rendering.py).
body_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=400)
ascii_controls_but_tab = "".join(chr(c) for c in [*range(32), 127] if c != ord("\t"))
header_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters=ascii_controls_but_tab),
    min_size=1,
    max_size=200,
)
display_name = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters='"\\'), max_size=40
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    text=body_text,
    html=body_text,
    subject=header_text,
    sender_name=display_name,
    reply_to=st.none() | st.just("help@tickets.example.com"),
)
@example(
    text="a=b\r\nc\rd\x85é€😀 \n\n",
    html="",
    subject="Zoë « Non-stop » ",
    sender_name="É",
    reply_to=None,
)
@example(text="x" * 400, html="  trailing  \n", subject="y " * 100, sender_name="", reply_to=None)
def test_the_bytes_are_those_of_the_compat32_classes(
    text: str, html: str, subject: str, sender_name: str, reply_to: str | None
) -> None:
    sender = (
        formataddr((sender_name, "no-reply@tickets.example.com"))
        if sender_name
        else ("no-reply@tickets.example.com")
    )
    wanted = claimed_message(text=text, html=html, subject=subject, sender=sender)
    email = build_email(wanted, reply_to=reply_to)
    assert email.data == compat32_email(wanted, reply_to, boundary_of(email))
    assert email.envelope_sender == "no-reply@tickets.example.com"


# What the templates write: ASCII, where "=" is the only character to quote (build_email's
# common case), with spaces and tabs that may end a line and lines around the 76-character limit.
ascii_body = st.lists(
    st.text(st.sampled_from("=  \t.ab") | st.characters(codec="ascii"), max_size=160),
    max_size=8,
).flatmap(lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda end: end.join(lines)))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=ascii_body, html=ascii_body)
@example(text="=" * 75 + "\n" + "a" * 74 + " \n" + "a" * 75 + "\t", html="a" * 76 + "=")
def test_ascii_bodies_are_the_bytes_of_the_compat32_classes(text: str, html: str) -> None:
    wanted = claimed_message(text=text, html=html)
    email = build_email(wanted)
    assert email.data == compat32_email(wanted, None, boundary_of(email))


def test_a_subject_too_long_for_one_line_is_folded_and_reads_back_whole() -> None:
    for subject in (" ".join(["word"] * 300), " ".join(["Zoë"] * 300)):
        email = build_email(claimed_message(subject=subject))
        assert max(len(line) for line in email.data.split(b"\r\n")) <= 998
        parsed = message_from_bytes(email.data, policy=default)
        assert isinstance(parsed, EmailMessage)
        assert str(parsed["Subject"]) == subject
        if subject.isascii():
            assert email.data == compat32_email(
                claimed_message(subject=subject), None, boundary_of(email)
            )


def test_no_boundary_repeats_and_none_can_be_in_a_part() -> None:
    # "=_" is no quoted-printable escape, so the parts, all quoted-printable, cannot hold it.
    boundaries = {boundary_of(build_email(claimed_message(text="=_ --=_ =5F"))) for _ in range(100)}
    assert len(boundaries) == 100
    assert all(b.startswith("=_") for b in boundaries)
    body = build_email(claimed_message(text="=_ --=_ =5F")).data.split(b"\r\n\r\n", 2)[2]
    assert b"=3D_ --=3D_ =3D5F" in body


@pytest.mark.parametrize("header", ["subject", "sender", "to"])
@pytest.mark.parametrize("control", ["\r\nBcc: all@example.com", "\n", "\x1e", "\x00"])
def test_a_line_break_or_control_character_in_a_header_is_refused(
    header: str, control: str
) -> None:
    with pytest.raises(ValueError, match="line break or control character"):
        build_email(claimed_message(**{header: f"Hi{control}"}))
