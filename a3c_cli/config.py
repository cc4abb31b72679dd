"""Config schemas, registered in Hydra's ConfigStore, and the checks types cannot express.

Hydra validates types and unknown keys against these dataclasses while it composes the config;
`validate` then checks values (ranges, button names) on the resolved plain dict, so every mistake
is reported before any process starts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from a3c_cli.errors import UsageError

import a3c_cli.conf

CONFIG_DIR = str(Path(a3c_cli.conf.__file__).parent)


def available_cpus() -> int:
    """Cores this process may run on (respects taskset and cgroup cpusets where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def slug(text: str) -> str:
    """A name fit for a folder: ALE/SpaceInvaders-v5 -> ALE-SpaceInvaders-v5."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def add(*numbers: int) -> int:
    return sum(numbers)


# Hogwild with many workers: each worker's update lands on weights that the others have moved
# since it copied them. Measured (benchmarks/RESULTS.md, "More workers learn less from each
# frame"): 16 workers of 8 environments learned far less per frame than 2, at every step size
# tried; 16 classic workers (1 environment each) at an eighth of the step learned Pong-ALE and the
# memory task at the pace of the default per frame, and 8 workers of 2 at a quarter of it learned
# the memory task in under half the frames of 8 of 8. Up to 4 workers, 8 environments each at the
# optimizer's own step learned as fast per frame as fewer environments at a smaller step, and
# made more frames a second. So from 5 workers on, the defaults keep ~16 environments in all and
# shrink the step as workers are added.
MOST_WORKERS_AT_FULL_STEP, MOST_PER_WORKER, ENVIRONMENTS_IN_ALL = 4, 8, 16


def past_full_step(workers) -> bool:
    """Whether the defaults below shrink for this many workers (a bad value: validate() names it)."""
    return isinstance(workers, int) and workers > MOST_WORKERS_AT_FULL_STEP


def envs_for(workers) -> int:
    """The default envs_per_worker: 8 on up to 4 workers; 16 // workers (2 on 8, 1 on 16) on more."""
    return max(1, ENVIRONMENTS_IN_ALL // workers) if past_full_step(workers) else MOST_PER_WORKER


def lr_for(lr: float, workers) -> float:
    """The default learning rate: `lr` on up to 4 workers, lr x 2 / workers on more."""
    return lr * 2 / workers if past_full_step(workers) else lr


# `workers: ${cpu_count:}` in conf/config.yaml: one worker per core by default;
# `envs_per_worker: ${envs_for:${workers}}` there and `lr: ${lr_for:1.0e-3,${workers}}` in
# conf/optim/: the defaults that follow the number of workers (above);
# `name: ${slug:${.id}}` in conf/game/{retro,ale}.yaml: the run's name from the id given;
# `cpus_per_task: ${add:${workers},1}` in conf/hydra/launcher/: a worker each, and one more.
for name, resolver in (("cpu_count", available_cpus), ("envs_for", envs_for), ("lr_for", lr_for), ("slug", slug), ("add", add)):
    if not OmegaConf.has_resolver(name):
        OmegaConf.register_new_resolver(name, resolver)


@dataclass
class GameConfig:
    name: str = MISSING  # the config's name: names run directories and checkpoints/<name>/
    backend: str = "retro"  # retro: stable-retro; ale: Gymnasium's Atari (ale-py); memory: the built-in task
    actions: List[List[str]] = field(default_factory=list)  # the discrete action set: button combos
    frame_skip: int = 4  # emulator frames per agent step (rewards are summed over them)
    sticky_prob: float = 0.0  # chance, per emulator frame, of repeating the previous action
    max_episode_steps: int = 4500  # agent steps before an episode is cut (truncated)
    max_steps_without_reward: Optional[int] = None  # an episode is cut after this many steps in a row with no reward
    reward_scale: float = 1.0  # rewards are multiplied by this for learning (logs keep the game score)
    reward_clip: Optional[float] = None  # then clipped to [-reward_clip, reward_clip]; null: no clip


@dataclass
class ScreenGameConfig(GameConfig):
    crop: List[int] = field(default_factory=lambda: [0, 0, 0, 0])  # pixels cut: top, bottom, left, right
    serve: Optional[List[str]] = None  # an action taken at an episode's start and after each life lost
    noop_max: int = 30  # greedy evaluation and test episodes start with 0 to this many no-op steps


@dataclass
class EndStopConfig:
    button: str = MISSING  # a button of the game's pad, e.g. DOWN
    address: int = MISSING  # a RAM address, as in stable-retro's data.json (one unsigned byte)
    at: int = MISSING  # the button is let go of, frame by frame, while that byte is >= this


@dataclass
class RetroGameConfig(ScreenGameConfig):
    id: str = MISSING  # stable-retro's game id, e.g. Airstriker-Genesis-v0
    state: Optional[str] = None  # a save state of that game; null: the game's default state
    scenario: Optional[str] = None  # a scenario file of that game (rewards, game over); null: scenario.json
    turbo: List[str] = field(default_factory=list)  # buttons pressed every other step while held
    end_stop: Optional[EndStopConfig] = None  # a button let go of where a RAM byte says (Pong's paddle)
    # actions: [] means every button combination stable-retro's integration allows (game=retro)


@dataclass
class AleGameConfig(ScreenGameConfig):
    backend: str = "ale"
    id: str = MISSING  # a Gymnasium id of ale-py, e.g. ALE/SpaceInvaders-v5
    # actions: names from the game's minimal action set, e.g. [[NOOP], [FIRE]]; [] means all of them


@dataclass
class MemoryGameConfig(GameConfig):
    backend: str = "memory"
    delay: int = 5  # blank steps between the cue and the step where the choice pays


@dataclass
class OptimConfig:
    name: str = MISSING  # adam | rmsprop
    lr: float = 1e-3
    eps: float = 1e-8
    weight_decay: float = 0.0
    shared: bool = True  # statistics in shared memory (the A3C paper); false: one set per worker


@dataclass
class AdamConfig(OptimConfig):
    name: str = "adam"
    beta1: float = 0.9
    beta2: float = 0.999
    amsgrad: bool = False


@dataclass
class RMSpropConfig(OptimConfig):
    name: str = "rmsprop"
    lr: float = 7e-4
    eps: float = 1e-5
    alpha: float = 0.99  # decay of the squared-gradient average
    momentum: float = 0.0
    centered: bool = False


@dataclass
class ModelConfig:
    frame_size: int = 42  # observations: one grayscale frame_size x frame_size image
    channels: int = 32  # filters in each of the 4 conv layers (3x3, stride 2)
    lstm_size: int = 256  # LSTMCell hidden size (and feed-forward width when recurrent=false)
    recurrent: bool = True  # false: a feed-forward layer replaces the LSTM (an ablation)


@dataclass
class TrainConfig:
    game: Any = MISSING
    optim: Any = MISSING
    model: ModelConfig = MISSING
    workers: int = MISSING  # Hogwild worker processes
    envs_per_worker: int = MOST_PER_WORKER  # environments each worker steps in lockstep, one batched forward pass; 1: classic A3C
    pin_workers: bool = True  # each worker and its emulator processes on one core (when workers >= cores)
    seed: int = 0
    max_frames: int = 500_000  # stop after this many emulator frames (all workers together)
    max_minutes: Optional[float] = None  # ... or after this much wall time; null: no time limit
    rollout_steps: int = 20  # agent steps per update (n-step return)
    gamma: float = 0.99
    gae_lambda: float = 1.0  # 1.0: plain n-step advantages as in the A3C paper
    entropy_coef: float = 0.01  # the entropy bonus's weight (with entropy_target: its first value)
    entropy_target: Optional[float] = None  # a policy entropy to hold, as a fraction of ln(actions): the weight adapts; null: fixed
    value_coef: float = 0.5
    max_grad_norm: float = 40.0
    eval_interval: int = 100_000  # emulator frames between greedy evaluations
    eval_episodes: int = 3  # greedy episodes per evaluation
    log_interval: float = 10.0  # seconds between training lines in metrics.jsonl and the log
    progress: bool = True  # the live display (off: log lines only)
    checkpoints_dir: str = "checkpoints"  # where each game's best model is published
    resume: Optional[str] = None  # go on from a run directory, a checkpoint, or latest (this game's newest run)


@dataclass
class TestConfig:
    game: Any = MISSING
    checkpoint: Optional[str] = None  # null: <checkpoints_dir>/<game>/best.pt
    checkpoints_dir: str = "checkpoints"
    episodes: int = 3
    sample: bool = False  # sample actions from the policy instead of taking the most likely one
    random: bool = False  # uniformly random actions, no checkpoint: the score a policy must beat
    render: bool = False  # a window where there is a display; without one, a video instead
    record: str = "false"  # false | true (= mp4) | mp4 | gif | both
    lstm_size: Optional[int] = None  # refuse a checkpoint whose LSTM size differs; null: any
    seed: int = 0


RECORD_FORMATS = {"false": [], "none": [], "true": ["mp4"], "mp4": ["mp4"], "gif": ["gif"], "both": ["mp4", "gif"]}


def register_schemas() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(name="test_schema", node=TestConfig)
    cs.store(group="schema/game", name="retro", node=RetroGameConfig)
    cs.store(group="schema/game", name="ale", node=AleGameConfig)
    cs.store(group="schema/game", name="memory", node=MemoryGameConfig)
    cs.store(group="schema/optim", name="adam", node=AdamConfig)
    cs.store(group="schema/optim", name="rmsprop", node=RMSpropConfig)
    cs.store(group="schema", name="model", node=ModelConfig)


register_schemas()


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def validate_test(cfg: dict) -> None:
    """Check an `a3c test` config; raise UsageError naming the key and the fix."""
    _require(cfg["episodes"] >= 1, f"episodes={cfg['episodes']}: play at least 1 episode (e.g. episodes=3)")
    _require(str(cfg["record"]).lower() in RECORD_FORMATS, f"record={cfg['record']}: choose false, true, mp4, gif or both")
    size = cfg["lstm_size"]
    _require(size is None or size >= 1, f"lstm_size={size}: must be >= 1, or null to take the checkpoint's")
    validate_game(cfg["game"])


def validate(cfg: dict) -> None:
    """Check values of a resolved `a3c train` config; raise UsageError naming the key and the fix."""
    _require(cfg["workers"] >= 1, f"workers={cfg['workers']}: need at least 1 worker (e.g. workers=2)")
    _require(cfg["envs_per_worker"] >= 1, f"envs_per_worker={cfg['envs_per_worker']}: need at least 1 (1 is classic A3C)")
    _require(cfg["max_frames"] >= 1, f"max_frames={cfg['max_frames']}: must be a positive frame count")
    minutes = cfg["max_minutes"]
    _require(minutes is None or minutes > 0, f"max_minutes={minutes}: must be > 0, or null for no limit")
    _require(cfg["rollout_steps"] >= 1, f"rollout_steps={cfg['rollout_steps']}: must be >= 1")
    _require(0 < cfg["gamma"] <= 1, f"gamma={cfg['gamma']}: must be in (0, 1]")
    _require(0 <= cfg["gae_lambda"] <= 1, f"gae_lambda={cfg['gae_lambda']}: must be in [0, 1]")
    for key in ("entropy_coef", "value_coef"):
        _require(cfg[key] >= 0, f"{key}={cfg[key]}: must be >= 0")
    target = cfg["entropy_target"]
    _require(target is None or 0 < target < 1, f"entropy_target={target}: must be in (0, 1), a fraction of a uniform policy's entropy, or null")
    _require(cfg["max_grad_norm"] > 0, f"max_grad_norm={cfg['max_grad_norm']}: must be > 0")
    _require(cfg["eval_interval"] >= 1, f"eval_interval={cfg['eval_interval']}: must be >= 1 frame")
    _require(cfg["eval_episodes"] >= 1, f"eval_episodes={cfg['eval_episodes']}: must be >= 1")
    _require(cfg["log_interval"] > 0, f"log_interval={cfg['log_interval']}: must be > 0 seconds")

    optim = cfg["optim"]
    _require(optim["lr"] > 0, f"optim.lr={optim['lr']}: the learning rate must be > 0 (e.g. optim.lr=1e-4)")
    _require(optim["eps"] > 0, f"optim.eps={optim['eps']}: must be > 0")
    _require(optim["weight_decay"] >= 0, f"optim.weight_decay={optim['weight_decay']}: must be >= 0")
    if optim["name"] == "adam":
        for key in ("beta1", "beta2"):
            _require(0 <= optim[key] < 1, f"optim.{key}={optim[key]}: must be in [0, 1)")
    else:
        _require(0 <= optim["alpha"] < 1, f"optim.alpha={optim['alpha']}: must be in [0, 1)")
        _require(optim["momentum"] >= 0, f"optim.momentum={optim['momentum']}: must be >= 0")

    model = cfg["model"]
    _require(model["frame_size"] >= 16, f"model.frame_size={model['frame_size']}: must be >= 16 pixels")
    _require(model["channels"] >= 1, f"model.channels={model['channels']}: must be >= 1")
    _require(model["lstm_size"] >= 1, f"model.lstm_size={model['lstm_size']}: must be >= 1")

    validate_game(cfg["game"])


def validate_game(game: dict) -> None:
    _require(game["backend"] in ("retro", "ale", "memory"), f"game.backend={game['backend']}: must be retro, ale or memory")
    _require(len(game["actions"]) != 1, f"game.actions: {game['name']} needs at least 2 actions (or [] for all)")
    _require(game["frame_skip"] >= 1, f"game.frame_skip={game['frame_skip']}: must be >= 1")
    _require(0 <= game["sticky_prob"] < 1, f"game.sticky_prob={game['sticky_prob']}: must be in [0, 1)")
    _require(game["max_episode_steps"] >= 1, f"game.max_episode_steps={game['max_episode_steps']}: must be >= 1")
    quiet = game["max_steps_without_reward"]
    _require(quiet is None or quiet >= 1, f"game.max_steps_without_reward={quiet}: must be >= 1, or null for no limit")
    _require(game["reward_scale"] > 0, f"game.reward_scale={game['reward_scale']}: must be > 0")
    clip = game["reward_clip"]
    _require(clip is None or clip > 0, f"game.reward_clip={clip}: must be > 0, or null for no clipping")
    if game["backend"] in ("retro", "ale"):
        crop = game["crop"]
        _require(len(crop) == 4 and min(crop) >= 0, f"game.crop={crop}: need 4 pixel counts >= 0: top, bottom, left, right")
        _require(game["noop_max"] >= 0, f"game.noop_max={game['noop_max']}: must be >= 0 (0: no no-op starts)")
        serve = game["serve"]
        _require(serve is None or not game["actions"] or serve in game["actions"],
                 f"game.serve={serve}: must be one of game.actions, or null")
        stop = game.get("end_stop")
        if stop is not None:
            _require(0 <= stop["at"] <= 255, f"game.end_stop.at={stop['at']}: must be a byte's value, 0 to 255")
            _require(stop["address"] >= 0, f"game.end_stop.address={stop['address']}: must be >= 0")
    else:
        _require(game["delay"] >= 0, f"game.delay={game['delay']}: must be >= 0")
