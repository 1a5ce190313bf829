"""A mail backend that sends mail from a worker: the request only enqueues it.

It is the ``default`` mailer (Django 6.1's ``MAILERS``), so ``send_mail()`` anywhere in the app
enqueues :func:`deliver_email` on the ``emails`` queue with the message's text; the worker hands
it to the ``smtp`` mailer (Django's own SMTP backend), and RQ retries a delivery that fails.
Delivery is at least once: an attempt killed after the server accepted the message sends it
again (same ``Message-ID``, which mail clients use to drop the copy).
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from typing import Any

from django.core.mail import EmailMessage, mailers
from django.core.mail.backends.base import BaseEmailBackend
from django.tasks import task

DELIVERY_MAILER = "smtp"


class _RawEmail(EmailMessage):
    """A message already written out: Django's SMTP backend sends its bytes as they are."""

    def __init__(self, *, raw: str, sender: str, recipients: list[str]) -> None:
        super().__init__(from_email=sender, to=recipients)
        self._raw = raw

    def message(self, *, policy: Any = email.policy.default) -> Any:
        return email.message_from_string(self._raw, policy=policy)


# --8<-- [start:deliver_email]
@task(queue_name="emails")
def deliver_email(*, sender: str, recipients: list[str], raw: str) -> int:
    """Send one message through SMTP (runs in a worker).

    Args:
        sender: The envelope sender.
        recipients: The envelope recipients (To, Cc and Bcc).
        raw: The whole message, headers and body.

    Returns:
        How many messages the SMTP server accepted (1).
    """
    with mailers[DELIVERY_MAILER] as connection:
        sent: int = connection.send_messages(
            [_RawEmail(raw=raw, sender=sender, recipients=recipients)]
        )
    return sent


# --8<-- [end:deliver_email]


# --8<-- [start:mail_enqueue]
class TaskEmailBackend(BaseEmailBackend):
    """Enqueue each message for :func:`deliver_email` instead of talking SMTP in the request."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        """Enqueue the messages (after the current transaction commits).

        Args:
            email_messages: The messages.

        Returns:
            How many were enqueued.
        """
        for message in email_messages:
            deliver_email.enqueue(
                sender=message.from_email,
                recipients=message.recipients(),
                raw=message.message().as_string(),
            )
        return len(email_messages)


# --8<-- [end:mail_enqueue]
