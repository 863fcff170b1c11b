"""Push subscriptions at partners: ``create``, ``check``, ``renew``, ``list``, ``delete``, ``stats``.

    manage.py healthsync_webhooks create [strava oura ...]   # subscribe (app-wide, or every connected user)
    manage.py healthsync_webhooks check                      # compare with the partner, recreate what is missing
    manage.py healthsync_webhooks renew                      # renew what expires within RENEW_BEFORE_SECONDS
    manage.py healthsync_webhooks maintain                   # renew + check: the periodic job
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from healthsync.models import WebhookSubscription
from healthsync.providers import enabled_providers
from healthsync.webhooks import conf, stats, subscriptions


class Command(BaseCommand):
    help = "Create, check, renew, list or delete push subscriptions at partners; show push statistics."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("action", choices=["create", "check", "renew", "maintain", "list", "delete", "stats"])
        parser.add_argument("providers", nargs="*", help="provider slugs (default: every provider with push on)")

    def handle(self, *args, action: str, providers: list[str], **options) -> None:  # noqa: ANN002, ANN003
        slugs = providers or [cls.slug for cls in enabled_providers() if conf.enabled(cls.slug)]
        if action == "renew":
            for sub in subscriptions.renew_due():
                self.stdout.write(f"renewed {sub} until {sub.expires_at:%Y-%m-%d %H:%M}")
            return
        if action == "maintain":
            self.stdout.write(json.dumps(subscriptions.maintain(), indent=2))
            return
        if action == "stats":
            self.stdout.write(json.dumps(stats.summary(), indent=2, default=str))
            return
        if action == "list":
            for sub in WebhookSubscription.objects.filter(provider__in=slugs).order_by("provider", "kind"):
                expires = f" expires {sub.expires_at:%Y-%m-%d %H:%M}" if sub.expires_at else ""
                who = f" connection {sub.connection_id}" if sub.connection_id else ""
                self.stdout.write(f"{sub.provider} {sub.kind or 'app'}{who} {sub.status} {sub.partner_id}{expires}")
            return
        for slug in slugs:
            try:
                if action == "create":
                    made = subscriptions.ensure(slug)
                    self.stdout.write(f"{slug}: {sum(s.status == 'active' for s in made)}/{len(made)} active")
                elif action == "check":
                    for line in subscriptions.check(slug):
                        self.stdout.write(line)
                else:
                    self.stdout.write(f"{slug}: removed {subscriptions.remove(slug)}")
            except subscriptions.SubscriptionError as exc:
                raise CommandError(str(exc)) from exc
