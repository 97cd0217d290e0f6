"""Widgets of the Replication page: source/target pickers, the plan tree, apply progress and
results. The coroutines that read both sides, plan and apply are Qt-free:
``controlplanes/replication.py``."""
