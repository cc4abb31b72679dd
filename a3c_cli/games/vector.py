"""Environments in processes of their own, stepped in lockstep: a worker's stable-retro games,
and the evaluator's episodes of any game.

stable-retro allows one emulator per process. Gymnasium's AsyncVectorEnv runs such environments
too, but each step pickles a command to every process and a result tuple back, and merges the
results through its generic space functions. Here a step is one byte to each process and one
byte back; actions, frames, rewards, episode ends and scores sit in shared memory, and training
runs faster for it (benchmarks/README.md, "Throughput").

Episodes reset on the step that ends them, as Gymnasium's AutoresetMode.SAME_STEP does, with the
same info keys: info["final_obs"] and info["final_info"]["episode"] ("r": score, "l": length)
for the environments whose episode ended, each with its "_" mask.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import traceback
from collections.abc import Callable

import gymnasium as gym
import numpy as np

STEP, RESET, CLOSE = b"s", b"r", b"c"
DONE, FAILED = b"", b"!"
NO_SEED = -1
NO_GAME = -1  # episode_lengths of an environment whose episode ended with a lost life, not a game


class EnvironmentProcessError(Exception):
    """The traceback of an error raised in an environment process (the cause of the one raised
    in the worker: logs show both)."""


class SharedBuffers:
    """Arrays every environment process writes its own row of, made before the processes fork."""

    def __init__(self, ctx, count: int, obs_shape: tuple[int, ...]):
        def array(typecode: str, dtype, shape: tuple[int, ...] = ()) -> np.ndarray:
            raw = ctx.RawArray(typecode, count * int(np.prod(shape, dtype=np.int64)))
            return np.frombuffer(raw, dtype=dtype).reshape(count, *shape)

        self.obs = array("B", np.uint8, obs_shape)
        self.final_obs = array("B", np.uint8, obs_shape)
        self.actions = array("q", np.int64)
        self.seeds = array("q", np.int64)
        self.rewards = array("d", np.float64)
        self.terminated = array("b", np.bool_)
        self.truncated = array("b", np.bool_)
        self.episode_returns = array("d", np.float64)
        self.episode_lengths = array("q", np.int64)


def serve(make_env: Callable[[], gym.Env], index: int, conn, shared: SharedBuffers) -> None:
    """An environment process: makes its environment, then runs each command it is sent on
    its row of the shared arrays and answers one byte (or an error)."""
    env = None
    try:
        env = make_env()
        if env.observation_space.shape != shared.obs.shape[1:]:
            raise ValueError(f"observations of shape {env.observation_space.shape}, expected {shared.obs.shape[1:]}")
        conn.send_bytes(DONE)
        while (command := conn.recv_bytes()) != CLOSE:
            if command == STEP:
                obs, reward, terminated, truncated, info = env.step(int(shared.actions[index]))
                shared.rewards[index], shared.terminated[index], shared.truncated[index] = reward, terminated, truncated
                if terminated or truncated:
                    shared.final_obs[index] = obs
                    game = info.get("episode")  # none where a lost life ended a learning episode
                    shared.episode_returns[index] = game["r"] if game else 0.0
                    shared.episode_lengths[index] = game["l"] if game else NO_GAME
                    obs, _ = env.reset()
            else:
                seed = int(shared.seeds[index])
                obs, _ = env.reset(seed=None if seed == NO_SEED else seed)
            shared.obs[index] = obs
            conn.send_bytes(DONE)
    except KeyboardInterrupt:  # Ctrl-C is the trainer's to handle
        pass
    except Exception as exc:
        try:
            error = pickle.dumps((type(exc), str(exc), traceback.format_exc()))
        except Exception:  # an exception type that cannot travel
            error = pickle.dumps((RuntimeError, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        conn.send_bytes(FAILED + error)
    finally:
        if env is not None:
            env.close()


class ProcessVectorEnv(gym.vector.VectorEnv):
    """`len(env_fns)` environments of (obs_shape) uint8 frames and discrete actions, each made and
    stepped in a process of its own (forked: the functions need not pickle)."""

    def __init__(self, env_fns: list[Callable[[], gym.Env]], obs_shape: tuple[int, ...], num_actions: int):
        self.num_envs = len(env_fns)
        self.single_observation_space = gym.spaces.Box(0, 255, obs_shape, np.uint8)
        self.single_action_space = gym.spaces.Discrete(num_actions)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        ctx = multiprocessing.get_context("fork")
        self.shared = SharedBuffers(ctx, self.num_envs, obs_shape)
        self.conns, self.processes = [], []
        for index, make_env in enumerate(env_fns):
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=serve, args=(make_env, index, theirs, self.shared), daemon=True,
                                  name=f"a3c-env-{index}")
            process.start()
            theirs.close()
            self.conns.append(ours)
            self.processes.append(process)
        self.closed = False
        self._wait()  # each environment made

    def reset(self, *, seed: int | list[int] | None = None, options=None):
        if seed is None or isinstance(seed, int):  # Gymnasium's meaning: seed + i for environment i
            seed = [None if seed is None else seed + i for i in range(self.num_envs)]
        self.shared.seeds[:] = [NO_SEED if s is None else s for s in seed]
        self._send(RESET)
        return self.shared.obs.copy(), {}

    def step(self, actions, active: np.ndarray | None = None):
        """Gymnasium's step. Where the boolean mask `active` is False the environment is not
        stepped (the evaluator stops each one once it has played its episode): its frame stays,
        its reward is 0 and its end flags are False."""
        shared = self.shared
        shared.actions[:] = actions
        if active is None:
            self._send(STEP)
        else:
            shared.rewards[~active], shared.terminated[~active], shared.truncated[~active] = 0.0, False, False
            self._send(STEP, active.nonzero()[0])
        terminated, truncated = shared.terminated.copy(), shared.truncated.copy()
        info = {}
        ended = terminated | truncated
        if ended.any():
            final_obs = np.empty(self.num_envs, dtype=object)
            for i in ended.nonzero()[0]:
                final_obs[i] = shared.final_obs[i].copy()
            games = ended & (shared.episode_lengths != NO_GAME)
            episode = {"r": np.where(games, shared.episode_returns, 0.0),
                       "l": np.where(games, shared.episode_lengths, 0)}
            info = {
                "final_obs": final_obs,
                "_final_obs": ended,
                "final_info": {"episode": episode, "_episode": games},
                "_final_info": ended,
            }
        return shared.obs.copy(), shared.rewards.copy(), terminated, truncated, info

    def _send(self, command: bytes, indices=None) -> None:
        """`command` to the processes `indices` (all by default), then their answers."""
        indices = range(self.num_envs) if indices is None else indices
        for index in indices:
            with contextlib.suppress(OSError):  # that process is gone: _wait says which, with its exit code
                self.conns[index].send_bytes(command)
        self._wait(indices)

    def _wait(self, indices=None) -> None:
        """The answers of the processes `indices` (all by default); the first error is raised as
        its own type, once all answered."""
        error = None
        for index in range(self.num_envs) if indices is None else indices:
            try:
                answer = self.conns[index].recv_bytes()
            except (EOFError, OSError):
                self.processes[index].join(timeout=1)
                exited = f"environment process {index} exited (exit code {self.processes[index].exitcode})"
                answer = FAILED + pickle.dumps((RuntimeError, exited, ""))
            if answer != DONE and error is None:
                error = answer
        if error is not None:
            self.close()
            exc_type, message, where = pickle.loads(error[len(FAILED) :])
            raise exc_type(message) from (EnvironmentProcessError(where) if where else None)

    def close(self, **kwargs) -> None:
        if self.closed:
            return
        self.closed = True
        for conn in self.conns:
            with contextlib.suppress(OSError):  # that process is gone already
                conn.send_bytes(CLOSE)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        for conn in self.conns:
            conn.close()
