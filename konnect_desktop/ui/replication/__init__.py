"""Widgets of the Replication page: source/target pickers, the plan tree, apply progress and
results, and the coroutines that read both sides, plan and apply (``engine``)."""
