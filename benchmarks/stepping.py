"""Raw stepping speed of one worker's environments: 8 Breakout-ALE games at 42x42, random actions,
through whichever a3c_cli is imported (run it with each commit's interpreter, alternated):

    python benchmarks/stepping.py LABEL

prints frames per second of wall time and per CPU-second of this process (its C++ threads
included), the figure that stands on a machine that runs other things too."""

import sys
import time

import numpy as np

from a3c_cli.games.make import make_vector_env

GAME = dict(id="ALE/Breakout-v5", name="Breakout-ALE", backend="ale", actions=[["NOOP"], ["FIRE"], ["RIGHT"], ["LEFT"]],
            serve=["FIRE"], crop=[32, 16, 8, 8], frame_skip=4, sticky_prob=0.0, max_episode_steps=27000,
            reward_scale=1.0, reward_clip=1.0, noop_max=30, max_steps_without_reward=None,
            life_loss_ends_episode=False, max_pool=True, eval_policy="greedy")  # keys older commits ignore


def main() -> None:
    envs = make_vector_env(GAME, 42, 8)
    envs.reset(seed=list(range(8)))
    rng = np.random.default_rng(0)
    for _ in range(200):
        envs.step(rng.integers(0, 4, 8))
    cpu, wall, frames = time.process_time(), time.time(), 0
    while time.time() - wall < 10:
        envs.step(rng.integers(0, 4, 8))
        frames += 8 * GAME["frame_skip"]
    print(f"{sys.argv[1] if len(sys.argv) > 1 else ''}: {frames / (time.time() - wall):.0f} frames/s wall, "
          f"{frames / (time.process_time() - cpu):.0f} frames per CPU-second")


if __name__ == "__main__":
    main()
