"""The Celery app for the Celery executor, configured from ``settings.HEALTHSYNC``.

Run workers with ``celery -A healthsync.executors.celery_app worker`` (DJANGO_SETTINGS_MODULE set). A host
project with its own Celery app calls ``configure(its_app)`` instead: the task is a ``shared_task``.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from healthsync import conf

PURPOSES = ("webhook", "scheduled", "backfill")


def queue_name(purpose: str) -> str:
    """``healthsync.webhook`` (webhook and client "sync now"), ``healthsync.scheduled``, ``healthsync.backfill``."""
    return f"{conf.get('CELERY_QUEUE_PREFIX')}.{purpose}"


def settings() -> dict[str, Any]:
    lease = int(conf.get("LEASE_SECONDS"))
    return {
        "broker_url": conf.get("CELERY_BROKER_URL"),
        "broker_connection_retry_on_startup": True,
        # Redis redelivers a message nobody acknowledged within this long: longer than any sync can run.
        "broker_transport_options": {"visibility_timeout": max(3600, 3 * lease)},
        "task_queues": [Queue(queue_name(p)) for p in PURPOSES],
        "task_default_queue": queue_name("scheduled"),
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,  # the SyncRun row is the result
        # at-least-once: acknowledge after the sync returns; a killed child's message goes back to the queue
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a worker holds no more messages than it runs
        "worker_cancel_long_running_tasks_on_connection_loss": False,  # the fencing epoch covers a re-delivery
        "task_time_limit": lease + 60,  # a sync stuck past its lease is already fenced off: end it
        "worker_send_task_events": False,
    }


def configure(celery: Celery) -> Celery:
    celery.conf.update(settings())
    celery.autodiscover_tasks(["healthsync.executors"], related_name="tasks")  # imported once Django is set up
    return celery


app = Celery("healthsync")
configure(app)
