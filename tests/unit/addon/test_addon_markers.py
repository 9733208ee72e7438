"""Prompt markers to spans: each marker prompts until the next, the last until the scene's end."""

import pytest

from addon import markers


def test_spans_run_from_each_marker_to_the_next_and_the_last_to_the_end():
    spans = markers.prompt_spans([(97, "jump "), (1, "walk"), (40, "  "), (193, "wave")], 288, 24.0)
    assert [(s.prompt, s.first, s.last) for s in spans] == [("walk", 1, 96), ("jump", 97, 192), ("wave", 193, 288)]
    assert [s.seconds(24.0) for s in spans] == [4.0, 4.0, 4.0]


@pytest.mark.parametrize("marks, end, words", [
    ([], 100, "No prompt markers"),
    ([(1, " ")], 100, "No prompt markers"),
    ([(1, "walk"), (1, "jump")], 100, "same frame"),
    ([(1, "walk"), (120, "jump")], 100, "after the scene's end"),
    ([(1, "walk"), (60, "jump")], 100, "'jump' has frames 60-100"),
])
def test_markers_that_cannot_work_say_why(marks, end, words):
    with pytest.raises(ValueError, match=words):
        markers.prompt_spans(marks, end, 24.0)
