"""The schedule and online kinds: the model writes PPO's hyperparameter schedule, once per run or while
PPO trains; their task, steering callback and re-training."""
