"""`promptpo play`: run a recorded policy in the sandbox on the real environment and watch it.

Episodes are fresh by default (the seed stream ``verify`` uses, none of the run's own); with a
video path the episodes are rendered (Gymnasium's ``rgb_array``; MuJoCo headless through EGL)
and written one after another as a GIF or MP4 (imageio).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from promptpo import gate
from promptpo.seeds import episode_secret
from promptpo.records import POLICY_KIND, RunFolder
from promptpo.envs import load_spec
from promptpo.errors import ConfigError
from promptpo.policy.evaluate import Evaluator
from promptpo.policy.evaluation import Evaluation
from promptpo.policy.pool import EnvPool
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Limits
from promptpo.policy.verify import plan

VIDEO_SUFFIXES = (".gif", ".mp4")
FRAMES_PER_EPISODE = 120
"""At most this many frames of an episode are kept, so a video stays small (see Frames)."""
MAX_SIDE = 320
"""Frames are scaled down by a whole factor until neither side exceeds this."""
FPS = 30


@dataclass
class Played:
    candidate: str
    env: str
    gate: str
    evaluation: Evaluation
    video: Path | None
    frames: int
    end_at_success: bool = False
    """Whether the episodes ended at their first success, as the run's did (unless --full-episodes)."""
    kept: str = ""
    """Which steps the video shows (Frames.describe)."""


class Frames:
    """Collects rendered frames per episode (the evaluator's ``on_step`` hook). A short episode keeps every step; a
    longer one every k-th, k doubling whenever more than FRAMES_PER_EPISODE frames are held, so the stride follows
    the length the episode had (a 10-step DoorKey episode keeps its 11 frames; a 500-step one every 8th step) and
    no more than that many frames are ever held."""

    def __init__(self, episodes: int):
        self.kept: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(episodes)]
        self.strides = [1] * episodes

    def __call__(self, episode: int, env: Any, step: int) -> None:
        stride = self.strides[episode]
        if step % stride:
            return
        base = env.unwrapped
        if getattr(base, "render_mode", None) != "rgb_array":
            base.render_mode = "rgb_array"
        frame = base.render()
        if frame is None:
            raise ConfigError(f"{type(base).__name__} renders no rgb_array frames", "play it without --video")
        frame = np.asarray(frame)
        factor = max(1, -(-max(frame.shape[:2]) // MAX_SIDE))
        kept = self.kept[episode]
        kept.append((step, np.ascontiguousarray(frame[::factor, ::factor, :3])))
        if len(kept) > FRAMES_PER_EPISODE:
            self.strides[episode] = stride = stride * 2
            kept[:] = [(s, f) for s, f in kept if s % stride == 0]

    def all(self) -> list[np.ndarray]:
        return [frame for episode in self.kept for _, frame in episode]

    def describe(self) -> str:
        """'every step', 'every 8th step', or per episode when they differ."""
        def each(stride: int) -> str:
            return "every step" if stride == 1 else f"every {stride}{'nd' if stride == 2 else 'th'} step"

        if len(set(self.strides)) == 1:
            return each(self.strides[0])
        return ", ".join(f"episode {i}: {each(stride)}" for i, stride in enumerate(self.strides))


def play(run: RunFolder, candidate_id: str | None, episodes: int, seed: int | None = None,
         video: Path | None = None, sandbox: str = "process", full_episodes: bool = False) -> Played:
    """Episodes end as the run's did (at their first success where it ended them there) unless ``full_episodes``,
    as in verify."""
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1 (got {episodes})")
    if video is not None and video.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"cannot write a video to {video}", "use a .gif or .mp4 path")
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must be set before MuJoCo renders
    record = run.candidate(candidate_id)
    if record["outcome"] != "ok":
        raise ConfigError(f"candidate {record['id']} did not run cleanly ({record['outcome']})",
                          "play a candidate whose outcome is ok, e.g. the best one")
    if run.kind != POLICY_KIND:
        raise ConfigError(f"run {run.path.name} is a {run.kind} run: it holds no policy to play")
    code = run.code(record["id"])
    spec = load_spec(run.meta["env"])
    chosen = plan(run, episodes)[1] if seed is None else spec.episodes(seed, episodes, episode_secret())
    limits = Limits.from_record(run.meta.get("config", {}).get("limits"))
    end_at_success = bool(run.meta.get("end_at_success", False)) and not full_episodes
    frames = Frames(len(chosen)) if video is not None else None
    pool = EnvPool(spec, seed if seed is not None else int(run.meta.get("seed", 0)))
    try:
        with make_sandbox(sandbox) as box:
            evaluation = Evaluator(spec, box, limits, pool, end_at_success=end_at_success).evaluate(
                code, chosen, on_step=frames)
    finally:
        pool.close()
    written = None
    if frames is not None and frames.all():
        written = write_video(video, frames.all())
    return Played(record["id"], spec.id, gate.verdict(gate.check(code)), evaluation, written,
                  len(frames.all()) if frames else 0, end_at_success, frames.describe() if frames else "")


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        iio.imwrite(path, np.stack(frames), extension=".gif", duration=1000 / FPS, loop=0)
    else:
        try:
            import imageio_ffmpeg  # noqa: F401 - the encoder imageio uses for MP4
        except ImportError:
            raise ConfigError("writing MP4 needs imageio-ffmpeg", "pip install imageio-ffmpeg, or write a .gif") from None
        even = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]  # H.264 wants even sizes
        iio.imwrite(path, np.stack(even), extension=".mp4", fps=FPS, codec="libx264", macro_block_size=1)
    return path
