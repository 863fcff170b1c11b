"""Token encryption at rest: Fernet keys from settings, MultiFernet so old keys still decrypt."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.db import models

from healthsync import conf


@lru_cache(maxsize=1)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def fernet() -> MultiFernet:
    keys = tuple(conf.get("TOKEN_KEYS"))
    if not keys:
        raise RuntimeError("settings.HEALTHSYNC['TOKEN_KEYS'] is empty: healthsync cannot store tokens")
    return _fernet(keys)


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode()


def decrypt(cipher: str) -> str:
    try:
        return fernet().decrypt(cipher.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("a stored token cannot be decrypted with any key in TOKEN_KEYS") from exc


def rotate(cipher: str) -> str:
    """Re-encrypt with the newest key (the first in TOKEN_KEYS)."""
    return fernet().rotate(cipher.encode()).decode()


class EncryptedTextField(models.TextField):
    """Holds ciphertext in the database; Python code sees plain text. Empty stays empty."""

    def from_db_value(self, value, expression, connection):  # noqa: ANN001 - Django's signature
        return decrypt(value) if value else value

    def get_prep_value(self, value):  # noqa: ANN001
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
