"""`a3c train resume=...`, all of it: find the checkpoint to go on from, check that this run can
continue it (before anything is written), load it into the shared model and optimizer, and cut
metrics.jsonl back to it, so that the file has no line twice."""

from __future__ import annotations

import logging
from pathlib import Path

from a3c_cli.config.schema import ModelConfig, TestConfig, TrainConfig, from_record, plain
from a3c_cli.records.checkpoint import check_same_game, load_checkpoint, trained_max_pool
from a3c_cli.records.rundir import cut_metrics, latest_checkpoint, newest_run, run_dir_of
from a3c_cli.system.errors import UsageError

log = logging.getLogger("a3c")

# keys a resumed run may change; each change is logged
MAY_CHANGE = ("workers", "max_frames", "max_minutes", "rollout_steps", "gamma", "gae_lambda", "entropy_coef",
              "entropy_target", "value_coef")

_loaded: dict[Path, dict] = {}  # checkpoints read before Hydra started the job, by path


def find_checkpoint(resume: str, game: str) -> Path:
    """`resume` is a run directory, a checkpoint file, or "latest": the newest run of this game
    under outputs/<game>/."""
    if resume == "latest":
        newest = newest_run(game)
        if newest is None:
            raise UsageError(f"resume=latest: no run of {game} under outputs/{game}/ to resume: "
                             f"start one with a3c train game={game}")
        return newest
    path = Path(resume)
    if path.is_dir():
        path = latest_checkpoint(path)
    if not path.is_file():
        raise UsageError(f"resume={resume}: no checkpoint there: give a run directory, a .pt file, or resume=latest")
    return path


def checked_checkpoint(cfg: TrainConfig) -> tuple[Path, dict]:
    """The checkpoint `cfg.resume` names, checked against cfg. The command line checks it before
    Hydra writes into the run directory, the run again once the game's action set is known (game=ale
    asks the emulator for it); the file is read once."""
    path = find_checkpoint(cfg.resume, cfg.game.name)
    key = path.resolve()
    if key not in _loaded:
        _loaded[key] = load_checkpoint(path)
    check_resumable(_loaded[key], path, cfg)
    return path, _loaded[key]


def resume_in_place(cfg: TrainConfig | TestConfig | None, args: list[str]) -> list[str]:
    """A resumed run goes on writing into the run directory it resumes (metrics.jsonl,
    TensorBoard, train.log), unless hydra.run.dir says otherwise. A refused resume changes
    nothing: the checkpoint is checked here, before Hydra writes its snapshot there."""
    if not getattr(cfg, "resume", None):  # a3c test has no resume
        return args
    path, _ = checked_checkpoint(cfg)
    if any(a.startswith("hydra.run.dir=") for a in args):
        return args
    return [*args, f"hydra.run.dir={run_dir_of(path)}"]


def check_resumable(checkpoint: dict, path: Path, cfg: TrainConfig) -> None:
    """Refuse what cannot continue the same agent; log what changes and may. The checkpoint's
    config is a plain dict, perhaps from before some keys existed."""
    check_same_game(checkpoint, path, cfg.game)
    before, model, optim = checkpoint["config"], plain(cfg.model), plain(cfg.optim)
    trained = plain(from_record(ModelConfig, before["model"]))  # keys it predates: their defaults (the small torso)
    if trained != model:
        changed = ", ".join(f"model.{k}={trained.get(k)}" for k in model if trained.get(k) != model[k])
        raise UsageError(f"resume: {path} was trained with {changed}: a resumed run keeps the model's shape")
    if before["optim"]["name"] != optim["name"] or before["optim"]["shared"] != optim["shared"]:
        raise UsageError(
            f"resume: {path} was trained with optim={before['optim']['name']} "
            f"(shared: {before['optim']['shared']}): a resumed run keeps its optimizer"
        )
    pooled = trained_max_pool(before)
    if hasattr(cfg.game, "max_pool") and pooled != cfg.game.max_pool:  # (a game of screens)
        log.warning("resume: %s learned on frames %s the max of each skip's last two; this run's frames are %s it "
                    "(game.max_pool=%s keeps what it learned on)", path, "with" if pooled else "without",
                    "with" if cfg.game.max_pool else "without", str(pooled).lower())
    for key in MAY_CHANGE:
        if before.get(key) != getattr(cfg, key):  # .get: a checkpoint older than the key
            log.info("resume: %s %s -> %s", key, before.get(key), getattr(cfg, key))
    for key in before["optim"]:
        if before["optim"][key] != optim[key]:
            log.info("resume: optim.%s %s -> %s", key, before["optim"][key], optim[key])


def resume_from(cfg: TrainConfig, run_dir: Path, shared_model, optimizer, entropy_weight) -> dict:
    """Load the checkpoint to continue into the shared model, optimizer and (with a target) entropy
    weight; return it, with the time its records reach."""
    path, checkpoint = checked_checkpoint(cfg)
    shared_model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        optimizer.share_memory()  # load_state_dict made private copies of the statistics
        for group in optimizer.param_groups:  # a resumed run may change the learning rate
            group["lr"] = cfg.optim.lr
    if cfg.entropy_target is not None and checkpoint.get("entropy_coef") is not None:  # .get: an older checkpoint
        entropy_weight.set(checkpoint["entropy_coef"])  # an adapted weight goes on from where it was
    if run_dir_of(path).resolve() != run_dir.resolve():
        log.warning("resume: continuing %s in a new run directory, %s", path, run_dir)
    c = checkpoint["counters"]
    log.info(
        "resume: %s at %s frames, %s updates, best evaluation %s",
        path,
        f"{c['frames']:,}",
        f"{c['updates']:,}",
        checkpoint["best_return"],
    )
    return {**checkpoint, "time": cut_metrics(run_dir, c["frames"])}
