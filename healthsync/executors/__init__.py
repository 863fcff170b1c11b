"""Executors: where syncs run. ``HEALTHSYNC["EXECUTOR"]`` picks one; both call the same ``sync.engine.sync``.

- ``"embedded"`` (default): an in-process tick and thread pool (``healthsync.scheduling.worker``), no other service.
- ``"celery"``: one Celery task per connection sync on a Redis broker, any number of worker processes on any
  number of machines, and one tick process (``python -m healthsync.executors.tick``) claiming due rows.
"""
