"""ProcessVectorEnv: a worker's stable-retro environments, one process each, on real Pong."""

import os
import signal
import zlib

import numpy as np
import pytest
from conftest import game_config, in_fresh_process

from a3c_cli.games.make import check_game, make_vector_env, make_worker_env
from a3c_cli.games.vector import EnvironmentProcessError, ProcessVectorEnv
from a3c_cli.system.errors import UsageError

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("atari_roms")]  # real Pong, one process per environment

ENVS, STEPS = 3, 70


def pong(*overrides: str) -> dict:
    # sticky actions: the episodes depend on each environment's seed; a step limit of 25 ends
    # episodes inside the run (gymnasium's TimeLimit: truncated)
    game = game_config("Pong-Atari2600", "game.sticky_prob=0.25", "game.max_episode_steps=25", *overrides).game
    check_game(game)  # imports ale-py's ROM when it is missing
    return game


def actions() -> np.ndarray:
    return np.random.default_rng(0).integers(3, size=(STEPS, ENVS))


def crc(frame: np.ndarray) -> int:
    return zlib.crc32(frame.tobytes())


def active() -> np.ndarray:
    """Which environments a masked step steps: each about half the time, and at least one."""
    mask = np.random.default_rng(1).random((STEPS, ENVS)) < 0.5
    mask[:, 0] |= ~mask.any(axis=1)
    return mask


def each_alone(game: dict, index: int, masked: bool = False) -> list[tuple]:
    """Environment `index` stepped by itself (with `masked`, only at the steps where active() is
    True for it), reset on the step that ends an episode."""
    env = make_worker_env(game, 42, False)
    obs, _ = env.reset(seed=index)
    steps = [(crc(obs),)]
    for action in actions()[active()[:, index] if masked else slice(None), index]:
        obs, reward, terminated, truncated, info = env.step(int(action))
        final = None
        if terminated or truncated:
            final = (crc(obs), float(info["episode"]["r"]), int(info["episode"]["l"]))
            obs, _ = env.reset()
        steps.append((crc(obs), float(reward), bool(terminated), bool(truncated), final))
    env.close()
    return steps


def all_in_lockstep(game: dict) -> list[list[tuple]]:
    envs = make_vector_env(game, 42, ENVS)
    assert isinstance(envs, ProcessVectorEnv)
    obs, _ = envs.reset(seed=list(range(ENVS)))
    steps = [[(crc(obs[i]),)] for i in range(ENVS)]
    for batch in actions():
        obs, rewards, terminated, truncated, info = envs.step(batch)
        for i in range(ENVS):
            final = None
            if terminated[i] or truncated[i]:
                assert info["_final_obs"][i] and info["final_info"]["_episode"][i]
                episode = info["final_info"]["episode"]
                final = (crc(info["final_obs"][i]), float(episode["r"][i]), int(episode["l"][i]))
            steps[i].append((crc(obs[i]), float(rewards[i]), bool(terminated[i]), bool(truncated[i]), final))
    envs.close()
    return steps


def some_in_lockstep(game: dict) -> tuple[list[list[tuple]], bool]:
    """As all_in_lockstep, each step stepping only the environments active() says; returns the
    steps of each, and whether every one left out kept its frame, with no reward and no end."""
    envs = make_vector_env(game, 42, ENVS)
    obs, _ = envs.reset(seed=list(range(ENVS)))
    steps = [[(crc(obs[i]),)] for i in range(ENVS)]
    untouched = True
    for batch, mask in zip(actions(), active()):
        before = obs.copy()
        obs, rewards, terminated, truncated, info = envs.step(batch, active=mask)
        idle = ~mask
        untouched &= (obs[idle] == before[idle]).all() and not (
            rewards[idle].any() or terminated[idle].any() or truncated[idle].any()
        )
        for i in mask.nonzero()[0]:
            final = None
            if terminated[i] or truncated[i]:
                episode = info["final_info"]["episode"]
                final = (crc(info["final_obs"][i]), float(episode["r"][i]), int(episode["l"][i]))
            steps[i].append((crc(obs[i]), float(rewards[i]), bool(terminated[i]), bool(truncated[i]), final))
    envs.close()
    return steps, bool(untouched)


def test_environments_in_lockstep_play_as_each_one_stepped_alone():
    """Frames, rewards, episode ends, final frames and scores, step by step, for 3 environments
    of different seeds whose episodes end (and restart) inside the run."""
    game = pong()
    lockstep = in_fresh_process(all_in_lockstep, game)
    for index in range(ENVS):
        alone = in_fresh_process(each_alone, game, index)
        assert lockstep[index] == alone
        assert sum(step[4] is not None for step in alone[1:]) == STEPS // 25  # the resets were exercised
    assert lockstep[0] != lockstep[1]  # the seeds reached the environments


def test_a_step_with_a_mask_steps_only_the_active_environments():
    """The evaluator's stepping: an environment left out of a step is not stepped (it plays on
    from where it was at its next step, as if stepped alone with its own steps only) and reports
    no reward and no end; each environment's episodes end and restart within its steps."""
    game = pong()
    some, untouched = in_fresh_process(some_in_lockstep, game)
    assert untouched
    for index in range(ENVS):
        alone = in_fresh_process(each_alone, game, index, True)
        assert some[index] == alone
        assert any(step[4] is not None for step in alone[1:])
    assert len({len(steps) for steps in some}) > 1  # the environments were stepped different numbers of times


def failing_to_make(game: dict):
    try:
        make_vector_env(game, 42, ENVS)
    except Exception as exc:
        return type(exc), str(exc), type(exc.__cause__), str(exc.__cause__)


def test_an_error_in_an_environment_process_is_raised_in_the_worker_as_itself():
    """A crop larger than the frame is found when the environment is made, in its own process:
    the worker gets the same UsageError (one line for the user), the process's traceback as its cause."""
    error, message, cause, where = in_fresh_process(failing_to_make, pong("game.crop=[200,100,0,0]"))
    assert error is UsageError
    assert message == "game.crop=[200, 100, 0, 0] leaves nothing of the 210x160 frame: crop less"
    assert cause is EnvironmentProcessError and "Traceback" in where and "GrayCropResize" in where


def killed_while_stepping(game: dict):
    envs = make_vector_env(game, 42, ENVS)
    envs.reset(seed=0)
    os.kill(envs.processes[1].pid, signal.SIGKILL)
    envs.processes[1].join()  # gone before the step writes to it
    try:
        envs.step(np.zeros(ENVS, dtype=np.int64))
    except RuntimeError as exc:
        return str(exc), [process.is_alive() for process in envs.processes]


def test_a_killed_environment_process_is_an_error_not_a_hang():
    message, alive = in_fresh_process(killed_while_stepping, pong())
    assert message == f"environment process 1 exited (exit code {-signal.SIGKILL})"
    assert alive == [False] * ENVS  # the others were closed
