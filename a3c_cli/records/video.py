"""Episode videos: RGB frames to an H.264 .mp4 (ffmpeg through imageio) or a looping .gif (pillow).

Both are written to a temporary file beside the target and renamed over it, so a crash never
leaves a half-written video under the final name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image

from a3c_cli.records.files import atomic_path
from a3c_cli.system.errors import UsageError


def write_mp4(frames: Sequence[np.ndarray], path: str | Path, fps: float, scale: int = 1) -> Path:
    """H.264 in yuv420p, which browsers and ordinary players open; odd sizes are padded to even."""
    path = Path(path)
    # macro_block_size=1: imageio would otherwise rescale (blur) sizes that are not multiples of 16
    with atomic_path(path) as tmp, imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264",
                                                      pixelformat="yuv420p", quality=8, macro_block_size=1,
                                                      output_params=["-movflags", "+faststart"]) as writer:
        for frame in _prepared(frames, scale):
            writer.append_data(_padded_to_even(frame))
    return path


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float, scale: int = 1) -> Path:
    """A GIF that loops forever. Pillow merges identical consecutive frames into one longer one."""
    path = Path(path)
    images = [Image.fromarray(frame) for frame in _prepared(frames, scale)]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=_gif_delay_ms(fps), loop=0)
    return path


def _gif_delay_ms(fps: float) -> int:
    """GIF delays count in hundredths of a second and browsers play a delay under 2 of them as 10:
    60 fps footage plays at 50 fps at best (write_video(..., every=2) and up avoid the limit)."""
    return 10 * max(2, round(100 / fps))


WRITERS: dict[str, Callable[..., Path]] = {".mp4": write_mp4, ".gif": write_gif}


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float, *, scale: int = 1, every: int = 1) -> Path:
    """Write HxWx3 uint8 RGB frames in the format the suffix names, each pixel blown up to
    scale x scale. every=n keeps frames 0, n, 2n... (ceil(len / n) of them) played at fps / n,
    so the clip lasts as long: it keeps GIFs small."""
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise UsageError(f"cannot write a video as '{path.suffix or path.name}': use one of {', '.join(WRITERS)}")
    if every < 1 or scale < 1:
        raise ValueError(f"every and scale must be at least 1, got every={every}, scale={scale}")
    return writer(frames[::every], path, fps / every, scale)


def _prepared(frames: Sequence[np.ndarray], scale: int) -> Iterator[np.ndarray]:
    """The frames, checked one by one as they are encoded and scaled by nearest neighbour."""
    if len(frames) == 0:
        raise UsageError("no frames to write: the video would be empty")
    shape = frames[0].shape
    for index, frame in enumerate(frames):
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.shape != shape:
            raise ValueError(f"frame {index} is {frame.dtype} {frame.shape}: every frame must be uint8 {shape}")
        yield frame.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else frame


def _padded_to_even(frame: np.ndarray) -> np.ndarray:
    """yuv420p stores colour per 2x2 block: repeat the last row/column of an odd-sized frame."""
    height, width = frame.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return frame
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
