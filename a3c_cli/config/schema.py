"""Config schemas, registered in Hydra's ConfigStore: every key's type, default and one-line
description, written once (docs/configuration.md is generated from them), and the resolvers the
YAML files use.

Hydra validates types and unknown keys against these dataclasses while it composes the config;
compose.py then turns the composed config into instances of them (validation.py checks their
values), and that read-only object is what every part of a run reads, as attributes. Records
(checkpoints, metrics.jsonl, results.json) keep it as a plain dict: `plain`.
"""

from __future__ import annotations

import os
import re
from dataclasses import FrozenInstanceError, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

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
# since it copied them, and many workers of 8 environments learned far less per frame than a few.
# So from 5 workers on, the defaults keep ~16 environments in all and shrink the step as workers
# are added; up to 4, 8 environments a worker at the optimizer's own step learned as fast per frame
# and made more frames a second (benchmarks/README.md, "Many workers").
MOST_WORKERS_AT_FULL_STEP, MOST_PER_WORKER, ENVIRONMENTS_IN_ALL = 4, 8, 16


def past_full_step(workers) -> bool:
    """Whether the defaults below shrink for this many workers (a bad value: validation.py names it)."""
    return isinstance(workers, int) and workers > MOST_WORKERS_AT_FULL_STEP


def envs_for(workers, ranks=1) -> int:
    """The default envs_per_worker: 8 on up to 4 workers; 16 // workers (2 on 8, 1 on 16) on more.
    Workers count over all ranks of a distributed run: their updates land on the same weights."""
    pool = _pool(workers, ranks)
    return max(1, ENVIRONMENTS_IN_ALL // pool) if past_full_step(pool) else MOST_PER_WORKER


def lr_for(few: float, shared: float, workers, ranks=1) -> float:
    """The default learning rate: `few` on up to 4 workers, `shared` / workers on more (all ranks'
    workers). Two numbers, because each was measured on its own: Adam's 5e-4 on 2 workers (issue 31's
    screen) and its 2e-3 / workers on 8 and 16 (benchmarks/README.md)."""
    pool = _pool(workers, ranks)
    return shared / pool if past_full_step(pool) else few


def _pool(workers, ranks):
    """Workers of every rank together (a bad value passes through: validation.py names it)."""
    return workers * ranks if isinstance(workers, int) and isinstance(ranks, int) else workers


def launcher_world_size() -> int:
    """The processes of a torch.distributed job, as its launcher says: torchrun's WORLD_SIZE,
    else Slurm's task count (srun, Hydra's submitit launcher); 1 outside a launcher."""
    return int(os.environ.get("WORLD_SIZE") or os.environ.get("SLURM_NTASKS") or 1)


# `workers: ${cpu_count:}` in conf/config.yaml: one worker per core by default;
# `envs_per_worker: ${envs_for:${workers}}` there and `lr: ${lr_for:5.0e-4,2.0e-3,${workers}}` in
# conf/optim/: the defaults that follow the number of workers (above);
# `ranks: ${world_size:}` in conf/distributed/gloo.yaml: the launcher's process count;
# `name: ${slug:${.id}}` in conf/game/{retro,ale}.yaml: the run's name from the id given;
# `cpus_per_task: ${add:${workers},1}` in conf/hydra/launcher/: a worker each, and one more.
for name, resolver in (
    ("cpu_count", available_cpus),
    ("envs_for", envs_for),
    ("lr_for", lr_for),
    ("slug", slug),
    ("add", add),
    ("world_size", launcher_world_size),
):
    if not OmegaConf.has_resolver(name):
        OmegaConf.register_new_resolver(name, resolver)


class ReadOnly:
    """The schemas' base: an instance cannot change once made, nor can the lists in it (they
    become tuples). Not @dataclass(frozen=True): OmegaConf makes a frozen dataclass's config
    read-only while Hydra composes it, and the command line's overrides would fail. Fields stay
    plain attributes, as fast to read as a frozen dataclass's (workers read them in their loops)."""

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _tuples(getattr(self, f.name)))
        object.__setattr__(self, "_made", True)

    def __setattr__(self, name, value):
        if getattr(self, "_made", False):
            raise FrozenInstanceError(f"cannot assign to {name}: a config is read-only once composed")
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete {name}: a config is read-only once composed")


def _tuples(value):
    return tuple(map(_tuples, value)) if isinstance(value, (list, tuple)) else value


def plain(value):
    """A config, or a value of one, as the plain dicts and lists that records keep (checkpoints,
    metrics.jsonl, results.json, committed rows): what OmegaConf.to_container gives."""
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def from_record(cls, values: dict):
    """A schema's instance from a record's plain dict (a checkpoint's config). Keys the record
    lacks take the schema's default: written before the key existed (model.torso: the small torso,
    the only one then)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


@dataclass
class GameConfig(ReadOnly):
    name: str = MISSING  # the config's name: names run directories and checkpoints/<name>/
    backend: str = "retro"  # retro: stable-retro; ale: Gymnasium's Atari (ale-py); memory: the built-in task
    actions: List[List[str]] = field(default_factory=list)  # combos (retro) or names (ale); []: all, ale's minimal set
    frame_skip: int = 4  # emulator frames per agent step (rewards are summed over them)
    sticky_prob: float = 0.0  # chance, per emulator frame, of repeating the previous action
    max_episode_steps: int = 4500  # agent steps before an episode is cut (truncated)
    max_steps_without_reward: Optional[int] = None  # cut after this many steps in a row without reward; null: never
    reward_scale: float = 1.0  # rewards are multiplied by this for learning (logs keep the game score)
    reward_clip: Optional[float] = None  # then clipped to [-reward_clip, reward_clip]; null: no clip
    eval_policy: str = "greedy"  # how evaluations (the best checkpoint) and a3c test act: greedy | sample


@dataclass
class ScreenGameConfig(GameConfig):
    crop: List[int] = field(default_factory=lambda: [0, 0, 0, 0])  # pixels cut: top, bottom, left, right
    max_pool: bool = True  # a step's frame is the max of the skip's last two (sprites that flicker); false: the last
    serve: Optional[List[str]] = None  # an action taken at an episode's start and after each life lost; null: none
    life_loss_ends_episode: bool = False  # for learning: a lost life ends the episode; scores stay whole games
    noop_max: int = 30  # greedy evaluation and test episodes start with 0 to this many no-op steps; 0: off


@dataclass
class EndStopConfig(ReadOnly):
    button: str = MISSING  # a button of the game's pad, e.g. DOWN
    address: int = MISSING  # a RAM address, as in stable-retro's data.json (one unsigned byte)
    at: int = MISSING  # the button is let go of, frame by frame, while that byte is >= this


@dataclass
class RetroGameConfig(ScreenGameConfig):
    id: str = MISSING  # stable-retro's game id, e.g. Airstriker-Genesis-v0 (`a3c games` lists them)
    state: Optional[str] = None  # a save state of that game; null: the game's default state
    scenario: Optional[str] = None  # a scenario file of that game (rewards, game over); null: scenario.json
    turbo: List[str] = field(default_factory=list)  # buttons tapped every other step while held (press-only games)
    end_stop: Optional[EndStopConfig] = None  # a button let go of where a RAM byte says (Pong's paddle); null: none


@dataclass
class AleGameConfig(ScreenGameConfig):
    backend: str = "ale"
    id: str = MISSING  # a Gymnasium id of ale-py, e.g. ALE/SpaceInvaders-v5


@dataclass
class MemoryGameConfig(GameConfig):
    backend: str = "memory"
    delay: int = 5  # blank steps between the cue and the step where the choice pays


@dataclass
class OptimConfig(ReadOnly):
    name: str = MISSING  # adam | rmsprop: the file of conf/optim/ chosen with optim=
    lr: float = 5e-4  # the learning rate (step size)
    eps: float = 1e-8  # added to the denominator, for numerical stability
    weight_decay: float = 0.0  # L2 penalty: weight_decay x weights added to the gradient; 0: none
    shared: bool = True  # statistics in shared memory for all workers (the A3C paper); false: one set per worker


@dataclass
class AdamConfig(OptimConfig):
    name: str = "adam"
    beta1: float = 0.9  # decay of the running average of gradients (first moment)
    beta2: float = 0.999  # decay of the running average of squared gradients (second moment)
    amsgrad: bool = False  # AMSGrad: divide by the largest squared-gradient average so far


@dataclass
class RMSpropConfig(OptimConfig):
    name: str = "rmsprop"
    lr: float = 7e-4
    eps: float = 1e-5
    alpha: float = 0.99  # decay of the running average of squared gradients
    momentum: float = 0.0  # momentum factor; 0: none
    centered: bool = False  # centered RMSprop: normalize by an estimate of the gradient's variance


@dataclass
class ModelConfig(ReadOnly):
    frame_size: int = 42  # observations: one grayscale frame, resized to frame_size x frame_size
    channels: int = 32  # filters in each of the small torso's 4 conv layers (3x3, stride 2, ELU)
    torso: str = "small"  # small: 4 x [3x3 conv, stride 2], for 42x42; nature: the DQN's 3 convs + 512 units, for 84x84
    lstm_size: int = 256  # LSTMCell hidden size (and feed-forward width when recurrent=false)
    recurrent: bool = True  # false: a feed-forward layer of the same size replaces the LSTM (an ablation)


@dataclass
class DistributedConfig(ReadOnly):
    backend: str = "none"  # none: one machine; gloo: one run over the ranks that torchrun or srun starts
    ranks: int = 1  # the job's processes, one per node, each with its own workers: set from the launcher's WORLD_SIZE
    sync_interval: float = 2.0  # seconds between two all-reduces of the parameters' changes (and of the counters)
    reduce: str = "sum"  # sum: every rank's changes add up, as one Hogwild pool; mean: their average
    timeout: float = 300.0  # seconds to wait for the other ranks, when joining and in each sync


@dataclass
class TrainConfig(ReadOnly):
    game: Any = MISSING  # the game: a file of conf/game/ (game=Pong-ALE), or retro or ale with game.id=
    optim: Any = MISSING  # the optimizer: a file of conf/optim/ (optim=rmsprop)
    model: ModelConfig = MISSING  # the network: a file of conf/model/ (model=lstm)
    distributed: DistributedConfig = MISSING  # one run over several machines: a file of conf/distributed/ (none, gloo)
    workers: int = MISSING  # Hogwild worker processes (a warning when more than the cores)
    envs_per_worker: int = MOST_PER_WORKER  # environments a worker steps in lockstep; 1: classic A3C
    pin_workers: bool = True  # each worker and its emulator processes stay on one core when workers >= cores (faster)
    seed: int = 0  # random seed: worker i starts from seed + i
    max_frames: Optional[int] = 500_000  # stop after this many emulator frames (all workers); null: no frame limit
    max_minutes: Optional[float] = None  # or after this much wall time; given alone, it drops the default max_frames
    rollout_steps: int = 20  # agent steps per update (n-step return)
    gamma: float = 0.99  # discount factor of future rewards
    gae_lambda: float = 1.0  # GAE's lambda; 1.0: plain n-step advantages as in the A3C paper
    entropy_coef: float = 0.01  # the entropy bonus's weight (with entropy_target: its first value)
    entropy_target: Optional[float] = None  # entropy to keep, as a share of ln(actions): entropy_coef adapts; null: off
    value_coef: float = 0.5  # the value (critic) loss's weight
    max_grad_norm: float = 40.0  # gradients are clipped to this L2 norm, all parameters together
    eval_interval: int = 100_000  # emulator frames between evaluations (game.eval_policy: greedy or sampled)
    eval_episodes: int = 3  # episodes per evaluation, played at once
    log_interval: float = 10.0  # seconds between training lines in metrics.jsonl and the log
    progress: bool = True  # the live display on a terminal; false: log lines only
    checkpoints_dir: str = "checkpoints"  # each game's best model is published to <checkpoints_dir>/<game>/best.pt
    resume: Optional[str] = None  # go on from a run directory, a checkpoint, or latest (this game's newest run)


@dataclass
class TestConfig(ReadOnly):
    game: Any = MISSING  # the game played: a file of conf/game/, as for a3c train
    checkpoint: Optional[str] = None  # the model played; null: <checkpoints_dir>/<game>/best.pt, the best one published
    checkpoints_dir: str = "checkpoints"  # where training published each game's best model
    episodes: int = 3  # episodes to play
    sample: Optional[bool] = None  # true: sample actions from the policy; false: greedy; null: game.eval_policy
    random: bool = False  # uniformly random actions, no checkpoint: the score a policy must beat
    render: bool = False  # a window where there is a display; without one, an MP4 instead
    record: str = "false"  # a video of each episode: false | true (= mp4) | mp4 | gif | both
    lstm_size: Optional[int] = None  # refuse a checkpoint whose LSTM size differs; null: take the checkpoint's
    seed: int = 0  # random seed of the environment, its no-op starts and sampled actions


TORSOS = ("small", "nature")  # model.torso: the conv layers before the LSTM (agent/model.py)
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
    cs.store(group="schema", name="distributed", node=DistributedConfig)


register_schemas()
