"""Videos are decoded back: frame count, size and where a moving square sits in each frame."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image, ImageSequence

from a3c_cli.records.video import write_video
from a3c_cli.system.errors import UsageError

N = 37
HEIGHT, WIDTH = 81, 105  # both odd: the mp4 writer must pad them
SIDE = 12
BACKGROUND = (20, 20, 60)
SQUARE = (230, 40, 40)


def square_corner(i: int) -> tuple[int, int]:
    """Top-left (row, column) of the square in frame i: it moves right and down."""
    return 3 + i, 2 + 2 * i


def moving_square(n: int = N) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        frame = np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8)
        row, column = square_corner(i)
        frame[row:row + SIDE, column:column + SIDE] = SQUARE
        frames.append(frame)
    return frames


def found_square(frame: np.ndarray, scale: int = 1) -> tuple[int, int, int, int]:
    """(row, column, height, width) of the red pixels, in the coordinates of the unscaled frame."""
    red = (frame[..., 0] > 128) & (frame[..., 1] < 128) & (frame[..., 2] < 128)
    rows, columns = np.nonzero(red)
    top, left = rows.min(), columns.min()
    return top / scale, left / scale, (rows.max() + 1 - top) / scale, (columns.max() + 1 - left) / scale


def decoded_mp4(path) -> tuple[list[np.ndarray], dict]:
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return list(reader.iter_data()), reader.get_meta_data()


def decoded_gif(path) -> tuple[list[np.ndarray], dict]:
    with Image.open(path) as gif:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)], dict(gif.info)


@pytest.mark.slow  # an ffmpeg process encodes (and decodes) the mp4
def test_mp4_is_h264_with_every_frame_where_it_was_drawn(tmp_path):
    path = write_video(moving_square(), tmp_path / "episode.mp4", fps=30)

    frames, meta = decoded_mp4(path)
    assert path == tmp_path / "episode.mp4"
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["fps"] == 30
    assert len(frames) == N
    assert frames[0].shape == (HEIGHT + 1, WIDTH + 1, 3)  # padded to even
    for i, frame in enumerate(frames):
        top, left, height, width = found_square(frame)
        assert abs(top - square_corner(i)[0]) <= 1 and abs(left - square_corner(i)[1]) <= 1, i
        assert abs(height - SIDE) <= 2 and abs(width - SIDE) <= 2, i
    background = frames[0][-10:, -10:].reshape(-1, 3).mean(axis=0)
    assert np.allclose(background, BACKGROUND, atol=6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode.mp4"]  # no temporary file left


@pytest.mark.slow  # an ffmpeg process encodes (and decodes) the mp4
def test_mp4_scale_blows_up_pixels(tmp_path):
    frames, _ = decoded_mp4(write_video(moving_square(5), tmp_path / "big.mp4", fps=30, scale=2))

    assert len(frames) == 5
    assert frames[0].shape == (2 * HEIGHT, 2 * WIDTH, 3)  # even already: no padding
    top, left, height, width = found_square(frames[4], scale=2)
    assert abs(top - square_corner(4)[0]) <= 0.5 and abs(left - square_corner(4)[1]) <= 0.5
    assert abs(height - SIDE) <= 1 and abs(width - SIDE) <= 1


def test_gif_keeps_every_nth_frame_loops_and_lasts_as_long(tmp_path):
    path = write_video(moving_square(), tmp_path / "episode.gif", fps=30, every=3, scale=2)

    frames, info = decoded_gif(path)
    kept = range(0, N, 3)
    assert len(frames) == len(kept) == 13  # ceil(37 / 3)
    assert info["loop"] == 0  # forever
    assert info["duration"] == 100  # 3 frames at 30 fps
    assert frames[0].shape == (2 * HEIGHT, 2 * WIDTH, 3)
    for frame, i in zip(frames, kept):
        assert found_square(frame, scale=2) == (*square_corner(i), SIDE, SIDE)  # palette colours: exact
    assert tuple(frames[0][0, 0]) == BACKGROUND
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode.gif"]


def test_gif_delay_stays_where_browsers_honour_it(tmp_path):
    _, info = decoded_gif(write_video(moving_square(4), tmp_path / "fast.gif", fps=60))
    assert info["duration"] == 20


@pytest.mark.parametrize("name", ["episode.avi", "episode"])
def test_unsupported_suffix_is_a_usage_error(tmp_path, name):
    with pytest.raises(UsageError, match=r"use one of \.mp4, \.gif") as error:
        write_video(moving_square(2), tmp_path / name, fps=30)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_no_frames_is_a_usage_error(tmp_path, suffix):
    with pytest.raises(UsageError, match="no frames"):
        write_video([], tmp_path / f"empty{suffix}", fps=30)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # an ffmpeg process encodes (and decodes) the mp4
def test_failure_midway_leaves_no_file_and_keeps_the_old_video(tmp_path):
    path = write_video(moving_square(3), tmp_path / "episode.mp4", fps=30)
    before = path.read_bytes()
    frames = moving_square()
    frames[20] = frames[20][:-1]  # a frame of another size, met after 20 frames went to ffmpeg

    with pytest.raises(ValueError, match="frame 20"):
        write_video(frames, path, fps=30)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode.mp4"]
