"""Structured JSON logs that never carry tokens or personal data.

Use in ``LOGGING``::

    "formatters": {"json": {"()": "healthsync.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},

Each line is one JSON object: ``ts``, ``level``, ``logger``, ``msg`` and any ``extra={...}`` fields. Before
writing, the formatter redacts, in the message, the arguments, the extras and the traceback:

- values under sensitive keys (``access_token``, ``refresh_token``, ``code``, ``client_secret``, ``password``,
  ``authorization``, ``email``, ``name``, …), wherever they sit in nested dicts and lists;
- bearer tokens, ``key=value`` pairs with a sensitive key (URL queries, form bodies, JSON text), JWT-shaped
  strings, long opaque token-like strings and e-mail addresses in free text.

Record values (weights, heart rates) never reach the logs: the sync code logs counts, ids and partner slugs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

REDACTED = "[redacted]"

#: keys whose values are secrets or personal data, compared lower-case with - and spaces as _
SENSITIVE_KEYS = frozenset({
    "access_token", "refresh_token", "id_token", "token", "code", "code_verifier", "client_secret", "secret",
    "password", "passwd", "authorization", "cookie", "set_cookie", "sessionid", "csrftoken", "csrfmiddlewaretoken",
    "state", "api_key", "apikey", "email", "e_mail", "username", "first_name", "last_name", "firstname", "lastname",
    "name", "full_name", "phone", "birthdate", "date_of_birth", "address",
})

_KEY_ALTERNATION = "|".join(sorted((re.escape(k) for k in SENSITIVE_KEYS), key=len, reverse=True))
#: key=value, key: value, "key": "value" (URL queries, form bodies, headers, JSON text, reprs of dicts)
_PAIR = re.compile(
    rf"""(?P<key>["']?\b(?:{_KEY_ALTERNATION})\b["']?\s*[:=]\s*)(?P<quote>["']?)(?P<value>[^\s"'&,;}}\]]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
#: opaque strings that look like tokens: 32+ characters of letters, digits and -_ with both letters and digits
_OPAQUE = re.compile(r"\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{32,}\b")


def _normal(key: object) -> str:
    return str(key).strip().lower().replace("-", "_").replace(" ", "_")


def redact_text(text: str) -> str:
    """Free text with secrets and personal data replaced by ``[redacted]``."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _PAIR.sub(lambda m: f"{m.group('key')}{m.group('quote')}{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _EMAIL.sub(REDACTED, text)
    return _OPAQUE.sub(REDACTED, text)


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of ``value`` with sensitive keys' values and sensitive text redacted, recursively."""
    if key is not None and _normal(key) in SENSITIVE_KEYS and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact_text(str(value))


#: attributes every LogRecord has; anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One redacted JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the template, never the arguments
            message = str(record.msg)
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact_text(message),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = redact(value, name)
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact_text(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class RedactingFilter(logging.Filter):
    """For plain-text handlers: rewrites the record's message redacted (attach to a handler's ``filters``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = redact_text(record.getMessage()), ()
        except Exception:
            record.msg, record.args = redact_text(str(record.msg)), ()
        return True
