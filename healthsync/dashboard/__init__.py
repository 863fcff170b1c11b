"""The operator dashboard (staff only): connections, sync runs, partner budgets, poll efficiency, webhooks.

Included by ``healthsync.urls`` at ``dashboard/``; charts are inline SVG drawn by ``charts.py``.
"""
