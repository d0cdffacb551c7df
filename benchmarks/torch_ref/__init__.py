"""PyTorch references for speed comparisons (benchmark-only: torch lives in .venv-bench, never
a project requirement)."""
