"""Timeline prompt markers: markers named with prompts, each prompting from its frame to the next
marker (the last one to the scene's end), made into the segments of one continuous motion."""

from __future__ import annotations

from dataclasses import dataclass

MIN_SECONDS = 2.0  # the backend's shortest segment (40 frames at 20 fps)


@dataclass(frozen=True)
class PromptSpan:
    prompt: str
    first: int  # scene frames, inclusive
    last: int

    def seconds(self, fps: float) -> float:
        return (self.last - self.first + 1) / fps


def prompt_spans(markers: list[tuple[int, str]], frame_end: int, fps: float) -> list[PromptSpan]:
    """The spans of markers given as (frame, name); ValueError saying what to change."""
    named = sorted((frame, name.strip()) for frame, name in markers if name.strip())
    if not named:
        raise ValueError("No prompt markers: add timeline markers (M) and name them with prompts (F2), "
                         "e.g. 'walk forward' at frame 1 and 'jump' at frame 60")
    frames = [frame for frame, _ in named]
    if len(set(frames)) != len(frames):
        raise ValueError("Two prompt markers are on the same frame; move one of them")
    if frames[-1] > frame_end:
        raise ValueError(f"The prompt marker '{named[-1][1]}' (frame {frames[-1]}) is after the scene's end "
                         f"(frame {frame_end}); move it or extend the scene")
    ends = [frame - 1 for frame in frames[1:]] + [frame_end]
    spans = [PromptSpan(name, frame, end) for (frame, name), end in zip(named, ends)]
    for span in spans:
        if span.seconds(fps) < MIN_SECONDS:
            raise ValueError(f"The prompt '{span.prompt}' has frames {span.first}-{span.last}, {span.seconds(fps):.2g} s; "
                             f"each prompt marker needs at least {MIN_SECONDS:g} s before the next one (or the end)")
    return spans
