"""Experiments over traces: compare two models on one prompt, branch at a moment, sample several paths and
check their consistency. Their result types (`comparison.py`, `branch_tree.py`, `consistency.py`) load
without torch."""
