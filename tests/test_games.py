"""Environments from the real emulators (one per process, so each check runs in a fresh one)."""

import zlib
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from conftest import GAMES, config, game_config, in_fresh_process

from a3c_cli.config.schema import EndStopConfig
from a3c_cli.games.make import check_game, make_env, resolve_actions
from a3c_cli.games.roms import rom_present
from a3c_cli.games.wrappers import ButtonCombos, RetroFrameSkip, StickyFrameSkip
from a3c_cli.system.errors import UsageError


def play_a_little(game: dict, frame_size: int, steps: int):
    env = make_env(game, frame_size)
    obs, _ = env.reset(seed=0)
    shapes = {obs.shape}
    for t in range(steps):
        obs, reward, terminated, truncated, info = env.step(t % env.action_space.n)
        shapes.add(obs.shape)
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return env.action_space.n, shapes, obs.dtype.str


@pytest.mark.slow
@pytest.mark.usefixtures("atari_roms")
@pytest.mark.parametrize("name", GAMES)
def test_every_game_makes_an_environment_with_its_action_set(name):
    cfg = game_config(name)
    game = cfg.game
    try:
        check_game(game)  # imports ale-py's ROM for the Atari games when it is missing
    except UsageError as exc:  # a ROM nobody here has: the user imports their own
        assert game.backend == "retro" and not rom_present(game.id)
        assert "a3c roms import" in str(exc)
        pytest.skip(f"{game.id}: its ROM is not imported here")
    documented = len(game.actions)
    game = resolve_actions(game)  # fills in the whole action set of the open-ended game files
    assert documented in (0, len(game.actions))
    actions, shapes, dtype = in_fresh_process(play_a_little, game, cfg.model.frame_size, 30)
    assert actions == len(game.actions)
    assert shapes == {(1, 42, 42)} and dtype == "|u1"


@pytest.mark.slow
def test_the_step_limit_truncates_an_episode_rather_than_ending_the_game():
    game = replace(config().game, frame_skip=4, max_episode_steps=5, sticky_prob=0.0)

    results = in_fresh_process(_five_steps, game)
    assert results[:4] == [(False, False)] * 4
    assert results[4] == (False, True)  # truncated by the limit, not a game over


def _five_steps(game):
    env = make_env(game, 42)
    env.reset(seed=0)
    return [tuple(env.step(0)[2:4]) for _ in range(5)]


@pytest.mark.slow
@pytest.mark.usefixtures("atari_roms")
def test_an_episode_without_a_reward_for_too_long_is_cut():
    """game.max_steps_without_reward, on a real game of Pong that the right paddle never plays:
    with the longest run of steps without a point as the limit, the episode is cut (truncated,
    not a game over) at the end of that run; one step more and the whole game is played out, so
    each point starts the count again."""
    game = game_config("Pong-Atari2600", "game.max_steps_without_reward=null").game
    check_game(game)  # imports ale-py's ROM when it is missing
    whole = in_fresh_process(_one_episode, game, False)
    quiet_runs = [len(run) for run in "".join("0" if r == 0 else "1" for r in whole["rewards"]).split("1")]
    longest = max(quiet_runs[:-1])  # the runs before each point
    assert whole["terminated"] and longest > 1

    cut = in_fresh_process(_one_episode, replace(game, max_steps_without_reward=longest), False)
    first_longest_ends = sum(run + 1 for run in quiet_runs[:quiet_runs.index(longest)]) + longest
    assert (cut["terminated"], cut["truncated"]) == (False, True)
    assert len(cut["rewards"]) == first_longest_ends
    assert cut["rewards"] == whole["rewards"][:first_longest_ends]

    played_out = in_fresh_process(_one_episode, replace(game, max_steps_without_reward=longest + 1), False)
    assert played_out == whole


@pytest.mark.slow
def test_sticky_actions_make_episodes_differ():
    game = replace(config().game, sticky_prob=0.25, max_episode_steps=200)
    first, second = in_fresh_process(_episode_pixel_sums, game, (1, 2), 200)
    assert first != second


@pytest.mark.slow
@pytest.mark.usefixtures("atari_roms")
@pytest.mark.parametrize("name", ["Pong-Atari2600", "Pong-ALE"])
def test_no_op_starts_make_the_episodes_of_a_deterministic_game_differ(name):
    game = game_config(name).game
    assert game.sticky_prob == 0 and game.noop_max > 0
    replayed = in_fresh_process(_episode_pixel_sums, game, (1, 2, 3, 4), 60)
    varied = in_fresh_process(_episode_pixel_sums, game, (1, 2, 3, 4), 60, True)
    assert len(set(replayed)) == 1  # without them, every episode replays the first
    assert len(set(varied)) > 1


def _episode_pixel_sums(game, seeds, steps, noop_starts=False):
    """One episode per seed under one fixed action sequence (each action held 4 steps, in turn):
    the pixel sums of its first frame and of the `steps` frames after it."""
    env = make_env(game, 42, noop_starts=noop_starts)
    episodes = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        frames = [int(obs.sum())]
        for t in range(steps):
            obs, *_ = env.step((t // 4) % env.action_space.n)
            frames.append(int(obs.sum()))
        episodes.append(tuple(frames))
    return episodes


@pytest.mark.slow
@pytest.mark.usefixtures("atari_roms")
def test_the_frame_skip_inside_stable_retro_plays_as_stepping_it_frame_by_frame():
    """RetroFrameSkip reads the screen and RAM once per agent step: under the same actions and
    the same sticky-action draws it must show the frames, pay the rewards and end the game where
    stepping stable-retro frame by frame does (a whole game of Pong, lost point by point)."""
    game = replace(game_config("Pong-Atari2600").game, sticky_prob=0.25)
    check_game(game)  # imports ale-py's ROM when it is missing
    inside = in_fresh_process(_one_game, game, RetroFrameSkip)
    frame_by_frame = in_fresh_process(_one_game, game, StickyFrameSkip)
    assert sum(reward != 0 for _, reward, _ in frame_by_frame) >= 21  # the rewards were exercised
    assert len(inside) == len(frame_by_frame)
    assert inside[:-1] == frame_by_frame[:-1]
    # the game ends inside the last step: frame by frame stops there, RetroFrameSkip plays its frames out
    assert inside[-1][1:] == frame_by_frame[-1][1:] == (-1.0, True)


def _bare_emulator(game):
    """The game's stable-retro environment with no wrapper of ours: every button, one frame a step."""
    import stable_retro as retro

    return retro.make(game.id, state=game.state, render_mode=None, use_restricted_actions=retro.Actions.ALL)


def _one_game(game, frame_skip):
    """One game under random actions: each agent step's (frame checksum, reward, game over)."""
    emulator = _bare_emulator(game)
    skipping = frame_skip(emulator, game.frame_skip, game.sticky_prob)
    env = ButtonCombos(skipping, game.actions, emulator.unwrapped.buttons)
    env.reset(seed=0)
    actions = np.random.default_rng(0)
    steps = []
    terminated = False
    while not terminated:
        obs, reward, terminated, _, _ = env.step(int(actions.integers(env.action_space.n)))
        steps.append((zlib.crc32(obs.tobytes()), float(reward), terminated))
    return steps


@pytest.mark.slow
def test_a_turbo_button_is_tapped_every_other_step_from_the_start_of_each_episode():
    """Airstriker fires on B's press only, so a held B is released and pressed in turn; each
    episode starts from the same phase, also after an episode of an odd number of steps."""
    game = game_config("Airstriker-Genesis").game
    assert game.turbo == ("B",)
    fire_left = game.actions.index(("LEFT", "B"))
    b_pressed, left_pressed = in_fresh_process(_pads_sent, game, fire_left, (3, 4, 5))
    assert b_pressed == [[False, True, False], [False, True, False, True], [False, True, False, True, False]]
    assert all(all(episode) for episode in left_pressed)  # a button without turbo stays held


class _PadsSent(gym.Wrapper):
    """Keeps the button pads the emulator was given, one per emulator step."""

    def __init__(self, env):
        super().__init__(env)
        self.pads = []

    def step(self, action):
        self.pads.append(np.array(action, dtype=bool))
        return self.env.step(action)


def _pads_sent(game, action, episode_lengths):
    """Hold `action` for each episode's length (the real emulator, no frame skip): whether B and
    LEFT were pressed at each step."""
    emulator = _bare_emulator(game)
    sent = _PadsSent(emulator)
    buttons = emulator.unwrapped.buttons
    b, left = buttons.index("B"), buttons.index("LEFT")
    env = ButtonCombos(sent, game.actions, buttons, game.turbo)
    b_pressed, left_pressed = [], []
    for length in episode_lengths:
        env.reset()
        sent.pads.clear()
        for _ in range(length):
            env.step(action)
        b_pressed.append([bool(pad[b]) for pad in sent.pads])
        left_pressed.append([bool(pad[left]) for pad in sent.pads])
    return b_pressed, left_pressed


@pytest.mark.slow
@pytest.mark.usefixtures("atari_roms")
def test_pongs_end_stop_keeps_the_paddle_in_view_at_the_bottom_of_the_field():
    """stable-retro's Pong turns the paddle past the bottom of the field while DOWN is held, out of
    the picture; the game file's end stop lets go of DOWN there, so the paddle stays in view (in
    the agent's own frames too) and UP brings it back at once. Without it (game.end_stop=null):
    the paddle is gone, and UP takes steps to show it again."""
    game = game_config("Pong-Atari2600").game
    check_game(game)  # imports ale-py's ROM when it is missing
    assert game.end_stop is not None
    stopped = in_fresh_process(_paddle_rows_holding_down_then_up, game)
    free = in_fresh_process(_paddle_rows_holding_down_then_up, replace(game, end_stop=None))
    assert all(rows > 0 for rows in stopped["down"][-10:])  # held DOWN: still in view
    assert stopped["agent_sees_it"]
    assert all(rows == 0 for rows in free["down"][-10:])  # held DOWN: gone
    assert not free["agent_sees_it"]
    assert stopped["up"].index(16) < free["up"].index(16)  # UP: the whole paddle back in view sooner
    assert stopped["down"][:8] == free["down"][:8]  # away from the bottom, the same paddle


@pytest.mark.slow
@pytest.mark.usefixtures("atari_roms")
def test_pongs_end_stop_leaves_the_score_whole():
    """The end stop reads the paddle at every frame inside the frame skip: every point of a whole
    game of Pong (random actions, DOWN held often at the bottom) must still be paid, 21 to the
    side that won."""
    game = game_config("Pong-Atari2600").game
    check_game(game)  # imports ale-py's ROM when it is missing
    rewards = in_fresh_process(_one_episode, game, True)["rewards"]
    assert max(rewards.count(-1.0), rewards.count(1.0)) == 21
    assert set(rewards) <= {-1.0, 0.0, 1.0}


def _one_episode(game, random_actions: bool):
    """One episode from seed 0 with uniformly random actions, or pressing nothing: its rewards
    and how it ended."""
    env = make_env(game, 42)
    env.reset(seed=0)
    actions = np.random.default_rng(0)
    rewards, terminated, truncated = [], False, False
    while not (terminated or truncated):
        action = int(actions.integers(env.action_space.n)) if random_actions else game.actions.index(())
        _, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
    env.close()
    return {"rewards": rewards, "terminated": terminated, "truncated": truncated}


def _paddle_rows_holding_down_then_up(game):
    """From the top of the field, hold DOWN for 30 agent steps, then UP for 15: after each step, how
    many rows of the right paddle's colour the field shows (16: the whole paddle), and whether the
    agent's cropped 42x42 frame still differs from one without the paddle."""
    env = make_env(game, 42, render_mode="rgb_array")
    down, up = game.actions.index(("DOWN",)), game.actions.index(("UP",))
    env.reset(seed=0)
    for _ in range(15):
        env.step(up)

    def paddle_rows():
        field = env.render()[34:194, 140:144]  # the field between the score and the bottom border
        return int((field == PONG_RIGHT_PADDLE).all(axis=2).any(axis=1).sum())

    rows = {"down": [], "up": []}
    for _ in range(30):
        obs, *_ = env.step(down)
        rows["down"].append(paddle_rows())
    rows["agent_sees_it"] = bool((obs[0, 37:, 36:38] != obs[0, 20, 36]).any())  # the paddle's column, bottom rows
    for _ in range(15):
        env.step(up)
        rows["up"].append(paddle_rows())
    env.close()
    return rows


PONG_RIGHT_PADDLE = np.array([92, 186, 92], dtype=np.uint8)  # the agent's paddle's green


@pytest.mark.usefixtures("atari_roms")
def test_an_end_stop_on_a_button_the_system_lacks_is_a_usage_error():
    game = replace(game_config("Pong-Atari2600").game, end_stop=EndStopConfig("TRIANGLE", address=179, at=180))
    with pytest.raises(UsageError, match="game.end_stop.button=TRIANGLE: no Atari2600 button"):
        check_game(game)


def test_an_unknown_stable_retro_id_is_a_usage_error():
    game = replace(config().game, id="NoSuchGame-Genesis-v0")
    with pytest.raises(UsageError, match="NoSuchGame-Genesis-v0"):
        check_game(game)


def test_a_missing_rom_says_how_to_import_it():
    import stable_retro as retro

    missing = next(g for g in retro.data.list_games() if g.endswith("-Genesis-v0") and not rom_present(g))
    game = replace(config().game, id=missing)
    with pytest.raises(UsageError, match="a3c roms import"):
        check_game(game)


def test_a_button_the_system_lacks_is_a_usage_error():
    game = replace(config().game, actions=[[], ["TRIANGLE"]])
    with pytest.raises(UsageError, match="TRIANGLE"):
        check_game(game)


def test_memory_task_pays_only_the_choice_matching_the_cue():
    from a3c_cli.games.memory import CueMemoryTask

    env = CueMemoryTask(delay=3, size=42)
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        side = int(obs[0, :, 21:].sum() > obs[0, :, :21].sum())  # the bright half
        for _ in range(4):  # blank frames, then the question
            obs, reward, terminated, _, _ = env.step(1 - side)
            assert reward == 0 and not terminated
        assert np.count_nonzero(obs) > 0  # the question frame
        _, reward, terminated, _, _ = env.step(side)
        assert reward == 1.0 and terminated


def test_an_unknown_state_or_scenario_names_the_ones_there_are():
    with pytest.raises(UsageError, match="Level1"):
        check_game(replace(config().game, state="Level9"))
    with pytest.raises(UsageError, match="has the scenarios scenario"):
        check_game(replace(config().game, scenario="contest"))
