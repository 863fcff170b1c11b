"""Re-encrypt every stored token with the newest key of HEALTHSYNC['TOKEN_KEYS'].

Rotation: put the new key first in TOKEN_KEYS (keep the old ones after it), deploy, run this command, then
drop the old keys. Each row is rewritten compare-and-set on ``token_version``, so a token refreshed by a
running sync meanwhile is never overwritten with its stale predecessor.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from healthsync.models import Connection, PendingAuthorization


class Command(BaseCommand):
    help = "Re-encrypt all stored OAuth tokens with the newest key in HEALTHSYNC['TOKEN_KEYS']."

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        connections = 0
        for pk in Connection.objects.values_list("pk", flat=True).iterator():
            while not self._rotate_connection(pk):
                pass  # a sync refreshed this token meanwhile: read it again
            connections += 1
        pending = 0
        for item in PendingAuthorization.objects.exclude(code_verifier="").only("pk", "code_verifier"):
            pending += PendingAuthorization.objects.filter(pk=item.pk).update(code_verifier=item.code_verifier)
        self.stdout.write(f"re-encrypted the tokens of {connections} connections and {pending} pending authorizations")

    @staticmethod
    def _rotate_connection(pk: int) -> bool:
        with transaction.atomic():
            row = Connection.objects.filter(pk=pk).only("access_token", "refresh_token", "token_version").first()
            if row is None:  # disconnected meanwhile
                return True
            # reading decrypted with any key; writing encrypts with the first (newest) one
            return bool(
                Connection.objects.filter(pk=pk, token_version=row.token_version).update(
                    access_token=row.access_token, refresh_token=row.refresh_token
                )
            )
