"""Ablation studies: sweeps declared beside their config (sweep.py), run locally (runner.py)
or on Slurm through submitit (slurm.py), and reported from the runs' own files (report.py)."""
