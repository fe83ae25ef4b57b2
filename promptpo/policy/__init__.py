"""The policy kind: the model writes a program that acts; its config, task, evaluation, cascade,
digest, trajectories, feedback functions, tuning, loading, verification and library."""
