from django.apps import AppConfig


class HealthsyncConfig(AppConfig):
    name = "healthsync"
    verbose_name = "Health sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from healthsync import checks  # noqa: F401 - registers the system checks
        from healthsync.providers import autodiscover
        from healthsync.webhooks import receivers  # noqa: F401 - push subscriptions follow connections

        autodiscover()
