import pickle
from dataclasses import FrozenInstanceError

import pytest
from conftest import GAME_OVERRIDES, GAMES, config, game_config
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from a3c_cli.config.compose import job_config
from a3c_cli.config.schema import CONFIG_DIR, EndStopConfig, RetroGameConfig, TrainConfig, plain
from a3c_cli.system.errors import UsageError


@pytest.mark.parametrize("game", GAMES)
def test_every_game_file_composes_and_validates(game):
    cfg = game_config(game)  # validated as it composes
    if game in ("retro", "ale"):  # named after the id given on the command line
        assert cfg.game.name == cfg.game.id.replace("/", "-")
        assert cfg.game.actions == ()  # all of the game's actions
    else:
        assert cfg.game.name == game  # run dirs and checkpoints/<game>/ are named by it
        assert len(cfg.game.actions) >= 2


@pytest.mark.parametrize("optim", ["adam", "rmsprop"])
def test_optimizer_groups(optim):
    cfg = config(f"optim={optim}", "optim.lr=3e-4", "optim.shared=false")
    assert cfg.optim.name == optim
    assert cfg.optim.lr == 3e-4 and cfg.optim.shared is False


def test_default_run_is_airstriker_with_one_worker_per_core():
    import os

    cfg = config()
    assert cfg.game.id == "Airstriker-Genesis-v0"
    assert cfg.workers == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("optim, few, shared", [("adam", 5e-4, 2e-3), ("rmsprop", 7e-4, 1.4e-3)])
def test_defaults_keep_16_environments_and_shrink_the_step_with_more_workers(optim, few, shared):
    """Up to 4 workers: 8 environments each at the optimizer's few-worker rate; more: ~16 environments
    in all, down to classic A3C, and a rate shared among the workers (Adam's 2.5e-4 on 8 and 1.25e-4
    on 16, as measured in benchmarks/README.md). The command line wins."""
    for workers, envs in ((1, 8), (2, 8), (4, 8), (5, 3), (8, 2), (16, 1), (32, 1)):
        cfg = config(f"optim={optim}", f"workers={workers}")
        assert cfg.envs_per_worker == envs
        assert cfg.optim.lr == pytest.approx(few if workers <= 4 else shared / workers)
    chosen = config(f"optim={optim}", "workers=16", "envs_per_worker=8", "optim.lr=3e-4")
    assert (chosen.envs_per_worker, chosen.optim.lr) == (8, 3e-4)


@pytest.mark.parametrize("override, key", [
    ("workers=0", "workers"), ("optim.lr=-1", "optim.lr"), ("max_frames=0", "max_frames"),
    ("gamma=1.5", "gamma"), ("eval_episodes=0", "eval_episodes"), ("game.sticky_prob=1.0", "game.sticky_prob"),
    ("game.crop=[1,2,3]", "game.crop"), ("model.lstm_size=0", "model.lstm_size"), ("game.noop_max=-1", "game.noop_max"),
    ("game.max_steps_without_reward=0", "game.max_steps_without_reward"), ("optim=rmsprop", None),
    ("model.torso=resnet", "model.torso"), (["model.torso=nature", "model.frame_size=32"], "model.frame_size"),
    (["model.torso=nature", "model.frame_size=84"], None),
    (["game=memory", "game.backend=retro"], "game.backend"), (["game=Pong-ALE", "game.backend=retro"], "game.backend"),
])
def test_validate_names_the_bad_key(override, key):
    overrides = [override] if isinstance(override, str) else override
    if key is None:  # a valid override, for contrast
        config(*overrides)
        return
    with pytest.raises(UsageError, match=key.replace(".", r"\.")):
        config(*overrides)


def test_model_nature_is_the_dqn_torso_at_its_own_frame_size():
    assert (config("model=nature").model.torso, config("model=nature").model.frame_size) == ("nature", 84)
    assert (config().model.torso, config().model.frame_size) == ("small", 42)


def test_a_time_limit_given_alone_drops_the_default_frame_limit():
    """`a3c train max_minutes=15` runs 15 minutes, not until the default max_frames comes first."""
    from a3c_cli.train.loop import limits_text

    cfg = config("max_minutes=15")
    assert cfg.max_frames is None and limits_text(cfg) == "stops after 15 minutes"
    both = config("max_minutes=15", "max_frames=2000000")
    assert both.max_frames == 2_000_000
    assert limits_text(both) == "stops at 2,000,000 frames or after 15 minutes, whichever comes first"
    default = config()
    assert default.max_frames == 500_000 and limits_text(default) == "stops at 500,000 frames"


def test_a_multirun_expands_into_the_jobs_of_hydras_basic_sweeper():
    """compose.py expands a sweep itself (Hydra's own code for it is private): every combination of
    the swept values, a later override of a key replacing an earlier one; a sweeper's own search
    space (interval) is left to the sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from a3c_cli.config.compose import hydra_args, sweep_jobs

    parse = OverridesParser.create().parse_overrides
    assert sweep_jobs(parse(["seed=0,1", "workers=2", "game=memory,Pong-ALE"])) == [
        ["seed=0", "workers=2", "game=memory"], ["seed=0", "workers=2", "game=Pong-ALE"],
        ["seed=1", "workers=2", "game=memory"], ["seed=1", "workers=2", "game=Pong-ALE"]]
    assert sweep_jobs(parse(["seed=0,1", "seed=5"])) == [["seed=5"]]
    assert sweep_jobs(parse(["seed=range(0,3)", "+x=1"])) == [[f"seed={s}", "+x=1"] for s in range(3)]
    assert sweep_jobs(parse(["optim.lr=interval(1e-4,1e-3)"])) is None
    parsed = hydra_args(["-m", "--cfg", "job", "seed=0,1", "-cd", "here"])
    assert (parsed.multirun, parsed.cfg, parsed.config_dir, parsed.overrides) == (True, "job", "here", ["seed=0,1"])


def test_the_config_is_typed_and_read_only_once_composed():
    """What every part of a run reads: the schema's dataclasses, as attributes. Nothing can change
    them once composed (their lists are tuples), here or in a process they are pickled into."""
    cfg = game_config("Pong-Atari2600")
    assert isinstance(cfg, TrainConfig) and isinstance(cfg.game, RetroGameConfig)
    assert isinstance(cfg.game.end_stop, EndStopConfig) and cfg.game.actions == ((), ("UP",), ("DOWN",))
    worker_copy = pickle.loads(pickle.dumps(cfg))
    assert worker_copy == cfg
    for changes in (lambda c: setattr(c, "workers", 3), lambda c: setattr(c.game, "frame_skip", 2),
                    lambda c: setattr(c, "overrides", []), lambda c: delattr(c, "seed")):
        for each in (cfg, worker_copy):
            with pytest.raises(FrozenInstanceError):
                changes(each)


@pytest.mark.parametrize("game", GAMES)
def test_records_keep_the_config_as_hydra_composes_it(game):
    """Checkpoints, metrics.jsonl and committed rows keep plain(cfg): the dict of old, key for key."""
    overrides = [f"game={game}", *GAME_OVERRIDES.get(game, []), "optim=rmsprop"]
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        composed = compose("config", overrides=overrides)
        assert plain(job_config(composed, "train", overrides)) == OmegaConf.to_container(composed, resolve=True)


def test_a_joblib_jobs_share_of_the_cores_leaves_the_defaults_that_follow_the_workers():
    """Under joblib's launcher a job's workers are its share of the cores (cli.workers_under_joblib),
    set after the defaults that follow `workers` resolved, as they always were."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = job_config(compose("config", overrides=["workers=16"]), "train", ["workers=16"], workers=2)
    assert (cfg.workers, cfg.envs_per_worker) == (2, 1)
