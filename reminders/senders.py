"""Where reminder messages go. REMINDER_SENDER names the class; an SMS gateway
is configuration of HttpSmsSender (URL, auth header, JSON body template), not code."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("reminders")


class SendFailed(Exception):
    pass


class Sender(Protocol):
    def send(self, *, phone: str, text: str) -> None: ...


class LogSender:
    """The default: the message goes to the log (the quick start has no SMS gateway)."""

    def send(self, *, phone: str, text: str) -> None:
        logger.info("reminder to %s: %s", phone, text)


class HttpSmsSender:
    """POST a JSON body to an SMS gateway. REMINDER_SMS_BODY is a template with
    {phone} and {text} (JSON-escaped); REMINDER_SMS_AUTH_HEADER e.g. "Authorization: Bearer ...".
    Any answer other than 2xx is a failure (retried on the next run)."""

    def __init__(self, url: str | None = None, auth_header: str | None = None, body: str | None = None):
        self.url = url or settings.REMINDER_SMS_URL
        self.auth_header = settings.REMINDER_SMS_AUTH_HEADER if auth_header is None else auth_header
        self.body = body or settings.REMINDER_SMS_BODY
        if not self.url:
            raise SendFailed("REMINDER_SMS_URL is not set")

    def send(self, *, phone: str, text: str) -> None:
        escape = lambda value: json.dumps(value)[1:-1]  # noqa: E731 - inside a JSON string
        payload = self.body.replace("{phone}", escape(phone)).replace("{text}", escape(text)).encode()
        request = urllib.request.Request(self.url, data=payload, method="POST")  # noqa: S310 - configured URL
        request.add_header("Content-Type", "application/json")
        if self.auth_header and ":" in self.auth_header:
            name, value = self.auth_header.split(":", 1)
            request.add_header(name.strip(), value.strip())
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                if not 200 <= response.status < 300:
                    raise SendFailed(f"SMS gateway answered {response.status}")
        except OSError as exc:
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc


def configured_sender() -> Sender:
    sender: Sender = import_string(settings.REMINDER_SENDER)()
    return sender
