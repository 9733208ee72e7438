"""moscale.generate_from_markers headless: timeline markers named with prompts give one continuous action."""

import bpy
import pytest
from test_edit import assert_continuous

PROMPTS = {1: "a person walks forward", 97: "a person jumps on the spot", 193: "a person waves with the right hand"}


@pytest.fixture
def armature_with_markers(backend, empty_scene):
    scene = empty_scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end = 1, 288  # 12 s
    assert bpy.ops.moscale.armature_add() == {'FINISHED'}
    scene.moscale.seed, scene.moscale.randomize_seed = 5, False
    for frame, prompt in PROMPTS.items():
        scene.timeline_markers.new(prompt, frame=frame)
    scene.timeline_markers.new("", frame=150)  # an unnamed marker is not a prompt
    return bpy.context.active_object


def test_three_prompt_markers_over_twelve_seconds_make_one_continuous_action(armature_with_markers):
    obj = armature_with_markers
    assert bpy.ops.moscale.generate_from_markers() == {'FINISHED'}
    action = obj.animation_data.action
    assert action.frame_range[:] == (1, 288)
    assert action["moscale_prompt"] == " | ".join(PROMPTS.values())
    assert_continuous(obj, "pelvis", (96, 192), range(60, 230))


def test_markers_that_cannot_work_are_reported_and_change_nothing(armature_with_markers):
    obj, scene = armature_with_markers, bpy.context.scene
    for marker in list(scene.timeline_markers):
        if marker.frame == 97:
            marker.frame = 190  # 3 frames before the next prompt
    with pytest.raises(RuntimeError, match="needs at least 2 s"):
        bpy.ops.moscale.generate_from_markers()
    scene.timeline_markers.clear()
    with pytest.raises(RuntimeError, match="No prompt markers"):
        bpy.ops.moscale.generate_from_markers()
    assert obj.animation_data is None or obj.animation_data.action is None
