"""Fine-tuning a program with reinforcement learning: a residual trained on top of the model's policy.

The executed action is ``clip(base(obs) + S · half_range · r)``: the base program keeps running in its sandbox
worker, as in evaluation, and the learner (Stable-Baselines3 or sb3-contrib, on the host) sees the observation and
the base's action and outputs the correction ``r`` in [-1, 1], which starts at exactly zero. So learning starts from
the program's score instead of from nothing (residual RL: Silver et al. 2018, Johannink et al. 2019).

A naive residual unlearns the program before it helps (SB3 plays uniform random actions before ``learning_starts``
and the actor moves against an untrained critic): here the off-policy learners first fill their buffer with the
base's own transitions (a small Gaussian correction), then train the critic alone, then the actor; an evaluation
that falls well below the best so far rolls the learner back to the best weights; and the run's result is the
better of the base and the best fine-tuned policy, judged on fresh episodes.

With no base (``promptpo baseline sac|td3|tqc``) the same trainer is the learner from scratch, with RL Baselines3
Zoo's hyperparameters where they exist.

- promptpo.finetune.config: FinetuneConfig and each algorithm's settings.
- promptpo.finetune.residual: the Gymnasium wrapper the learner trains in and the combined policy.
- promptpo.finetune.learner: the SB3 models, started at zero and warmed up.
- promptpo.finetune.train: one seed's training into its run folder (curve, checkpoints, the final judgement), and
  its resume.
"""
