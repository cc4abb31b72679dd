import torch

from a3c_cli.agent.model import ActorCritic


def test_a_rollout_pass_equals_acting_step_by_step():
    """Learning recomputes a (time, environments) rollout in one pass; it must equal what acting
    computed one time step at a time, and what each environment computes alone, state resets at
    episode starts included."""
    torch.manual_seed(0)
    model = ActorCritic(num_actions=4, frame_size=42, channels=8, lstm_size=32)
    frames = torch.randint(0, 256, (10, 3, 1, 42, 42), dtype=torch.uint8)
    starts = torch.zeros(10, 3)
    starts[0, 0] = starts[6, 0] = starts[3, 2] = 1.0
    state0 = (torch.randn(3, 32), torch.randn(3, 32))
    logits, values, final = model(frames, state0, starts)
    state = state0
    for t in range(10):
        step_logits, step_values, state = model(frames[t : t + 1], state, starts[t : t + 1])
        torch.testing.assert_close(step_logits[0], logits[t])
        torch.testing.assert_close(step_values[0], values[t])
    torch.testing.assert_close(state, final)
    for b in range(3):
        alone_logits, alone_values, _ = model(
            frames[:, b : b + 1], (state0[0][b : b + 1], state0[1][b : b + 1]), starts[:, b : b + 1]
        )
        torch.testing.assert_close(alone_logits[:, 0], logits[:, b])
        torch.testing.assert_close(alone_values[:, 0], values[:, b])


def test_an_episode_start_forgets_the_previous_episode():
    torch.manual_seed(0)
    model = ActorCritic(num_actions=2, frame_size=42, channels=8, lstm_size=16)
    frame = torch.randint(0, 256, (1, 1, 1, 42, 42), dtype=torch.uint8)
    fresh = model(frame, model.initial_state(), torch.ones(1, 1))
    carried = model(frame, (torch.randn(1, 16), torch.randn(1, 16)), torch.ones(1, 1))
    torch.testing.assert_close(fresh[0], carried[0])
    remembered = model(frame, (torch.randn(1, 16), torch.randn(1, 16)), torch.zeros(1, 1))
    assert not torch.allclose(fresh[0], remembered[0])


def test_frame_size_and_lstm_size_shape_the_network():
    model = ActorCritic(num_actions=6, frame_size=84, channels=16, lstm_size=128)
    frames = torch.zeros(3, 2, 1, 84, 84, dtype=torch.uint8)
    logits, values, (h, c) = model(frames, model.initial_state(2), torch.zeros(3, 2))
    assert logits.shape == (3, 2, 6) and values.shape == (3, 2) and h.shape == (2, 128)


def test_the_nature_torso_is_the_dqn_papers_network_before_the_lstm():
    model = ActorCritic(num_actions=6, frame_size=84, lstm_size=64, torso="nature")
    convs = [m for m in model.torso if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [(32, 8, 4), (64, 4, 2), (64, 3, 1)]
    assert model.torso[-2].in_features == 64 * 7 * 7 and model.torso[-2].out_features == 512
    assert model.core.input_size == 512
    frames = torch.zeros(3, 2, 1, 84, 84, dtype=torch.uint8)
    logits, values, (h, c) = model(frames, model.initial_state(2), torch.zeros(3, 2))
    assert logits.shape == (3, 2, 6) and values.shape == (3, 2) and h.shape == (2, 64)


def test_a_config_from_before_model_torso_builds_the_small_torso_its_weights_fit():
    from a3c_cli.agent.model import trained_model

    old = {"game": {"actions": [[0]] * 4},
           "model": {"frame_size": 42, "channels": 32, "lstm_size": 256, "recurrent": True}}
    weights = ActorCritic(num_actions=4).state_dict()
    trained_model(old).load_state_dict(weights)  # raises where a key or a shape differs
