"""Game config -> a Gymnasium environment that yields (1, S, S) uint8 frames and takes a discrete
action index. Environments are made inside worker and evaluator processes: one emulator each."""

from __future__ import annotations

import functools
import gc
import logging
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers import MaxAndSkipObservation, RecordEpisodeStatistics, TimeLimit, TransformReward

from a3c_cli.config.schema import GameConfig, plain
from a3c_cli.games.ale import AleGames, register_ale
from a3c_cli.games.memory import CueMemoryTask
from a3c_cli.games.vector import ProcessVectorEnv
from a3c_cli.games.wrappers import (
    ActionSubset,
    ButtonCombos,
    EndWithoutReward,
    EpisodeInfoOnly,
    GrayCropResize,
    LifeLossEndsEpisode,
    NoopStart,
    RetroFrameSkip,
    ServeAfterLifeLost,
    StickyFrameSkip,
    scale_and_clip,
)
from a3c_cli.system.errors import UsageError

log = logging.getLogger("a3c")

# How the suite judges an agent (Machado et al. 2018): sticky actions, whole games, no no-op
# starts; the policy is the game's eval_policy, the one its training evaluations chose the best
# checkpoint by. Shipped agents play under it.
PROTOCOL = {"sticky_prob": 0.25, "noop_max": 0, "max_steps_without_reward": None}


def check_game(game: GameConfig) -> None:
    """Check a game config against what is installed, before any process starts."""
    if game.backend == "retro":
        from a3c_cli.games.roms import check_retro_game

        check_retro_game(game)
    elif game.backend == "ale":
        register_ale()
        try:
            gym.spec(game.id)
        except gym.error.Error as exc:
            raise UsageError(
                f"game.id={game.id}: not a Gymnasium Atari id (they look like ALE/SpaceInvaders-v5)"
            ) from exc


def prepare_game(game: GameConfig) -> GameConfig:
    """The game config a run or `a3c test` plays: checked against what is installed, then with its
    action set spelled out (resolve_actions). Before any process starts."""
    check_game(game)
    return resolve_actions(game)


def resolve_actions(game: GameConfig) -> GameConfig:
    """The game config with its action set spelled out (a new one: configs are read-only).
    `actions: []` means all of them: every button combination the stable-retro integration
    allows, or ALE's minimal action set. Asking the emulator takes a short-lived process
    (stable-retro allows one emulator per process)."""
    if not game.actions:
        game = replace(game, actions=ask_for_all_actions(game))
    serve = getattr(game, "serve", None)
    if serve is not None and serve not in game.actions:
        raise UsageError(f"game.serve={plain(serve)} is not one of the game's actions: {plain(game.actions)}")
    return game


def ask_for_all_actions(game: GameConfig) -> list[list[str]]:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        actions = pool.submit(all_actions, game).result()
    if game.backend == "retro":
        log.warning(
            "%s has no action set of its own: using all %d button combinations stable-retro allows "
            "(a game file with a short list, see conf/game/, learns faster)",
            game.id,
            len(actions),
        )
    return actions


def all_actions(game: GameConfig) -> list[list[str]]:
    if game.backend == "ale":
        register_ale()
        env = gym.make(game.id)
        return [[meaning] for meaning in env.unwrapped.get_action_meanings()]
    import stable_retro as retro

    env = retro.make(
        game.id,
        state=game.state or retro.State.DEFAULT,
        render_mode=None,
        use_restricted_actions=retro.Actions.DISCRETE,
    )
    buttons = env.unwrapped.buttons
    return [
        [b for b, pressed in zip(buttons, env.unwrapped.action_to_array(a)[0]) if pressed and b]
        for a in range(env.action_space.n)
    ]


def make_env(game: GameConfig, frame_size: int, render_mode: str | None = None, noop_starts: bool = False,
             learning: bool = False) -> gym.Env:
    """The environment stack. `info["episode"]["r"]` at a game's end is the game's own score; the
    reward the agent learns from is scaled and clipped as the game config says. With `noop_starts`
    (greedy evaluation and test episodes), each episode starts with up to game.noop_max steps that
    press nothing. `learning` (a worker's environments): with game.life_loss_ends_episode, a lost
    life ends the episode the agent learns from, while the game plays on."""
    noop_max = getattr(game, "noop_max", 0) if noop_starts else 0
    if game.backend == "ale":
        env = ale_env(game, render_mode, noop_max)
    elif game.backend == "retro":
        env = retro_env(game, render_mode, noop_max)
    else:
        env = CueMemoryTask(game.delay, frame_size, render_mode=render_mode)
        if game.frame_skip > 1 or game.sticky_prob > 0:
            env = StickyFrameSkip(env, game.frame_skip, game.sticky_prob)
    if game.backend != "memory":
        if game.serve is not None:
            env = ServeAfterLifeLost(env, game.actions.index(game.serve))
        env = GrayCropResize(env, frame_size, game.crop)  # after the skip: one small frame per agent step
    if game.max_steps_without_reward is not None:
        env = EndWithoutReward(env, game.max_steps_without_reward)
    env = TimeLimit(env, game.max_episode_steps)
    env = RecordEpisodeStatistics(env)  # whole games: the score and length reported at game over
    if learning and getattr(game, "life_loss_ends_episode", False):
        env = LifeLossEndsEpisode(env)
    return TransformReward(env, scale_and_clip(game.reward_scale, game.reward_clip))


def ale_env(game: GameConfig, render_mode: str | None, noop_max: int) -> gym.Env:
    """Gymnasium's ALE, which repeats sticky actions itself, frame by frame. With game.max_pool the
    skip is Gymnasium's MaxAndSkipObservation (the max of its last two frames, as the workers'
    AtariVectorEnv takes it); without, ALE's own skip, which keeps the last frame."""
    register_ale()
    max_pool = game.max_pool and game.frame_skip > 1
    env = gym.make(game.id, frameskip=1 if max_pool else game.frame_skip, obs_type="grayscale",
                   repeat_action_probability=game.sticky_prob, full_action_space=False,
                   render_mode=render_mode).unwrapped  # ALE's grayscale, as the workers' AtariVectorEnv
    meanings = env.get_action_meanings()
    if max_pool:
        env = MaxAndSkipObservation(env, game.frame_skip)
    if noop_max:
        env = NoopStart(env, meanings.index("NOOP"), noop_max)  # every minimal action set has NOOP
    return ActionSubset(env, [names[0] for names in game.actions], meanings)


def retro_env(game: GameConfig, render_mode: str | None, noop_max: int) -> gym.Env:
    """stable-retro, with the frame skip (and sticky actions, and an end stop) at the emulator."""
    import stable_retro as retro

    state = game.state if game.state is not None else retro.State.DEFAULT
    env = retro.make(game.id, state=state, scenario=game.scenario, render_mode=render_mode,
                     use_restricted_actions=retro.Actions.ALL)
    end_stop = getattr(game, "end_stop", None)
    if game.frame_skip > 1 or game.sticky_prob > 0 or end_stop is not None:
        env = RetroFrameSkip(env, game.frame_skip, game.sticky_prob, end_stop, game.max_pool)
    if noop_max:  # no button pressed, whether or not the game's action set has that combination
        env = NoopStart(env, np.zeros(len(env.unwrapped.buttons), dtype=np.int8), noop_max)
    return ButtonCombos(env, game.actions, env.unwrapped.buttons, game.turbo)


def make_vector_env(game: GameConfig, frame_size: int, count: int) -> VectorEnv:
    """`count` environments stepped in lockstep, reset as soon as an episode ends (the final frame
    and info are in info["final_obs"], info["final_info"]). One is classic A3C. stable-retro
    allows one emulator per process, so several retro games run in child processes that write
    their frames to shared memory (ProcessVectorEnv); ALE games run in ale-py's own vector
    environment (AleGames), and the memory task steps in this process. The children are forked:
    they only step emulators, and are made before this process computes anything with torch."""
    if game.backend == "ale":
        return AleGames(game, frame_size, count)
    if game.backend == "retro" and count > 1:
        return make_process_vector_env(game, frame_size, count, learning=True)
    make = [functools.partial(make_worker_env, game, frame_size, False, learning=True) for _ in range(count)]
    return SyncVectorEnv(make, autoreset_mode=AutoresetMode.SAME_STEP)


def make_eval_envs(game: GameConfig, frame_size: int, count: int) -> ProcessVectorEnv:
    """The evaluator's `count` environments, one per greedy episode of an evaluation, each in a
    process of its own whatever the game: the episodes play at once on every core, with one
    batched forward pass a step. Episodes start with no-op steps (game.noop_max)."""
    return make_process_vector_env(game, frame_size, count, noop_starts=True)


def make_process_vector_env(game: GameConfig, frame_size: int, count: int, noop_starts: bool = False,
                            learning: bool = False) -> ProcessVectorEnv:
    gc.freeze()  # the children share this process's objects: keep their collector off them
    make = [functools.partial(make_worker_env, game, frame_size, True, noop_starts, learning) for _ in range(count)]
    return ProcessVectorEnv(make, (1, frame_size, frame_size), len(game.actions))


def make_worker_env(game: GameConfig, frame_size: int, own_process: bool, noop_starts: bool = False,
                    learning: bool = False) -> gym.Env:
    """A worker's (`learning`) or the evaluator's environment. In a process of its own it leaves
    Ctrl-C to the trainer and dies with the process that made it."""
    if own_process:
        from a3c_cli.system.child import follow_parent

        follow_parent()
    return EpisodeInfoOnly(make_env(game, frame_size, noop_starts=noop_starts, learning=learning))
