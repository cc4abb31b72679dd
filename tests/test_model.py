import torch

from a3c_cli.model import ActorCritic


def test_a_rollout_pass_equals_acting_frame_by_frame():
    """Learning recomputes a rollout in one pass; it must equal what acting computed, state
    resets at episode starts included."""
    torch.manual_seed(0)
    model = ActorCritic(num_actions=4, frame_size=42, channels=8, lstm_size=32)
    frames = torch.randint(0, 256, (10, 1, 42, 42), dtype=torch.uint8)
    starts = torch.zeros(10)
    starts[0] = starts[6] = 1.0
    state0 = (torch.randn(1, 32), torch.randn(1, 32))
    logits, values, final = model(frames, state0, starts)
    state = state0
    for t in range(10):
        step_logits, step_value, state = model(frames[t : t + 1], state, starts[t : t + 1])
        torch.testing.assert_close(step_logits[0], logits[t])
        torch.testing.assert_close(step_value[0], values[t])
    torch.testing.assert_close(state, final)


def test_an_episode_start_forgets_the_previous_episode():
    torch.manual_seed(0)
    model = ActorCritic(num_actions=2, frame_size=42, channels=8, lstm_size=16)
    frame = torch.randint(0, 256, (1, 1, 42, 42), dtype=torch.uint8)
    fresh = model(frame, model.initial_state(), torch.ones(1))
    carried = model(frame, (torch.randn(1, 16), torch.randn(1, 16)), torch.ones(1))
    torch.testing.assert_close(fresh[0], carried[0])
    remembered = model(frame, (torch.randn(1, 16), torch.randn(1, 16)), torch.zeros(1))
    assert not torch.allclose(fresh[0], remembered[0])


def test_frame_size_and_lstm_size_shape_the_network():
    model = ActorCritic(num_actions=6, frame_size=84, channels=16, lstm_size=128)
    logits, values, (h, c) = model(torch.zeros(3, 1, 84, 84, dtype=torch.uint8), model.initial_state(), torch.zeros(3))
    assert logits.shape == (3, 6) and values.shape == (3,) and h.shape == (1, 128)
