"""Value checks of a composed config, which types cannot express (ranges, lists, combinations).

Hydra validates types and unknown keys against the schemas in schema.py while it composes; these
run on the typed config (compose.py: job_config), before any process starts, and raise a
UsageError that names the key and the fix."""

from __future__ import annotations

from a3c_cli.config.schema import (
    RECORD_FORMATS,
    TORSOS,
    DistributedConfig,
    GameConfig,
    TestConfig,
    TrainConfig,
    plain,
)
from a3c_cli.system.errors import UsageError


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def validate_test(cfg: TestConfig) -> None:
    """Check an `a3c test` config; raise UsageError naming the key and the fix."""
    _require(cfg.episodes >= 1, f"episodes={cfg.episodes}: play at least 1 episode (e.g. episodes=3)")
    _require(
        str(cfg.record).lower() in RECORD_FORMATS, f"record={cfg.record}: choose false, true, mp4, gif or both"
    )
    size = cfg.lstm_size
    _require(size is None or size >= 1, f"lstm_size={size}: must be >= 1, or null to take the checkpoint's")
    validate_game(cfg.game)


def validate(cfg: TrainConfig) -> None:
    """Check values of a resolved `a3c train` config; raise UsageError naming the key and the fix."""
    _require(cfg.workers >= 1, f"workers={cfg.workers}: need at least 1 worker (e.g. workers=2)")
    _require(
        cfg.envs_per_worker >= 1, f"envs_per_worker={cfg.envs_per_worker}: need at least 1 (1 is classic A3C)"
    )
    frames = cfg.max_frames
    _require(
        frames is None or frames >= 1, f"max_frames={frames}: must be a positive frame count, or null for no limit"
    )
    minutes = cfg.max_minutes
    _require(minutes is None or minutes > 0, f"max_minutes={minutes}: must be > 0, or null for no limit")
    _require(cfg.rollout_steps >= 1, f"rollout_steps={cfg.rollout_steps}: must be >= 1")
    _require(0 < cfg.gamma <= 1, f"gamma={cfg.gamma}: must be in (0, 1]")
    _require(0 <= cfg.gae_lambda <= 1, f"gae_lambda={cfg.gae_lambda}: must be in [0, 1]")
    for key in ("entropy_coef", "value_coef"):
        _require(getattr(cfg, key) >= 0, f"{key}={getattr(cfg, key)}: must be >= 0")
    target = cfg.entropy_target
    _require(
        target is None or 0 < target < 1,
        f"entropy_target={target}: must be in (0, 1), a fraction of a uniform policy's entropy, or null",
    )
    _require(cfg.max_grad_norm > 0, f"max_grad_norm={cfg.max_grad_norm}: must be > 0")
    _require(cfg.eval_interval >= 1, f"eval_interval={cfg.eval_interval}: must be >= 1 frame")
    _require(cfg.eval_episodes >= 1, f"eval_episodes={cfg.eval_episodes}: must be >= 1")
    _require(cfg.log_interval > 0, f"log_interval={cfg.log_interval}: must be > 0 seconds")

    optim = cfg.optim
    _require(optim.lr > 0, f"optim.lr={optim.lr}: the learning rate must be > 0 (e.g. optim.lr=1e-4)")
    _require(optim.eps > 0, f"optim.eps={optim.eps}: must be > 0")
    _require(optim.weight_decay >= 0, f"optim.weight_decay={optim.weight_decay}: must be >= 0")
    if optim.name == "adam":
        for key in ("beta1", "beta2"):
            _require(0 <= getattr(optim, key) < 1, f"optim.{key}={getattr(optim, key)}: must be in [0, 1)")
    else:
        _require(0 <= optim.alpha < 1, f"optim.alpha={optim.alpha}: must be in [0, 1)")
        _require(optim.momentum >= 0, f"optim.momentum={optim.momentum}: must be >= 0")

    model = cfg.model
    _require(model.frame_size >= 16, f"model.frame_size={model.frame_size}: must be >= 16 pixels")
    _require(model.channels >= 1, f"model.channels={model.channels}: must be >= 1")
    _require(model.torso in TORSOS, f"model.torso={model.torso}: must be one of {', '.join(TORSOS)}")
    _require(model.torso != "nature" or model.frame_size >= 36,
             f"model.frame_size={model.frame_size}: the nature torso needs >= 36 pixels (84 is its size)")
    _require(model.lstm_size >= 1, f"model.lstm_size={model.lstm_size}: must be >= 1")

    validate_distributed(cfg.distributed)
    validate_game(cfg.game)


def validate_distributed(settings: DistributedConfig) -> None:
    _require(settings.backend in ("none", "gloo"), f"distributed.backend={settings.backend}: must be none or "
             "gloo (choose with distributed=gloo)")
    _require(settings.ranks >= 1, f"distributed.ranks={settings.ranks}: must be >= 1")
    _require(settings.sync_interval > 0, f"distributed.sync_interval={settings.sync_interval}: must be > 0 s")
    _require(settings.reduce in ("sum", "mean"), f"distributed.reduce={settings.reduce}: must be sum or mean")
    _require(settings.timeout > 0, f"distributed.timeout={settings.timeout}: must be > 0 s")


def validate_game(game: GameConfig) -> None:
    _require(
        game.backend in ("retro", "ale", "memory"), f"game.backend={game.backend}: must be retro, ale or memory"
    )
    own = type(game).backend  # the game file's schema: its keys mean nothing to another backend
    _require(game.backend == own, f"game.backend={game.backend}: {game.name} is a game of the {own} backend; "
             f"choose a {game.backend} game with game=... instead (`a3c games` lists them)")
    _require(len(game.actions) != 1, f"game.actions: {game.name} needs at least 2 actions (or [] for all)")
    _require(game.frame_skip >= 1, f"game.frame_skip={game.frame_skip}: must be >= 1")
    _require(0 <= game.sticky_prob < 1, f"game.sticky_prob={game.sticky_prob}: must be in [0, 1)")
    _require(game.max_episode_steps >= 1, f"game.max_episode_steps={game.max_episode_steps}: must be >= 1")
    quiet = game.max_steps_without_reward
    _require(quiet is None or quiet >= 1, f"game.max_steps_without_reward={quiet}: must be >= 1, or null for no limit")
    _require(game.reward_scale > 0, f"game.reward_scale={game.reward_scale}: must be > 0")
    clip = game.reward_clip
    _require(clip is None or clip > 0, f"game.reward_clip={clip}: must be > 0, or null for no clipping")
    _require(game.eval_policy in ("greedy", "sample"),
             f"game.eval_policy={game.eval_policy}: must be greedy (the most likely action) or sample")
    if game.backend in ("retro", "ale"):
        crop = game.crop
        _require(len(crop) == 4 and min(crop) >= 0,
                 f"game.crop={plain(crop)}: need 4 pixel counts >= 0: top, bottom, left, right")
        _require(game.noop_max >= 0, f"game.noop_max={game.noop_max}: must be >= 0 (0: no no-op starts)")
        serve = game.serve
        _require(
            serve is None or not game.actions or serve in game.actions,
            f"game.serve={plain(serve)}: must be one of game.actions, or null",
        )
        stop = getattr(game, "end_stop", None)  # retro only
        if stop is not None:
            _require(0 <= stop.at <= 255, f"game.end_stop.at={stop.at}: must be a byte's value, 0 to 255")
            _require(stop.address >= 0, f"game.end_stop.address={stop.address}: must be >= 0")
    else:
        _require(game.delay >= 0, f"game.delay={game.delay}: must be >= 0")
