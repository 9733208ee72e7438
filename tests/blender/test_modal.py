"""The UI's generate, driven as Blender drives it: the modal operator's per-event step (`tick`) on
timer ticks and Esc. bpy as a module has no event loop to send them, so the test sends the event
types; the run, its worker thread, the backend and the scene are the real ones. Panels cannot be
drawn headless (a UILayout exists only while a window draws; `popup_menu` crashes background
Blender), so `draw()` is not exercised."""

import sys
import time

import bpy
import pytest
from conftest import MODULE, session

TICK = 0.1  # the modal operator's timer interval


def operators():
    return sys.modules[MODULE + ".blender.operators"]


def run_until_done(run, timeout=120.0) -> set:
    """Timer ticks, as often as the operator's timer fires, until the run ends; its result."""
    deadline = time.monotonic() + timeout
    while (result := run.tick(bpy.context, 'TIMER')) == {'PASS_THROUGH'}:
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(TICK)
    return result


def test_timer_ticks_write_the_action(rig):
    bpy.context.scene.moscale.seconds = 2.0
    reports = []
    run = operators().GenerateRun(operators().plan_generation(bpy.context), lambda kind, text: reports.append(text))
    assert session().task is run.task and not bpy.ops.moscale.generate.poll()  # one generate at a time
    assert run.tick(bpy.context, 'MOUSEMOVE') == {'PASS_THROUGH'}
    assert run_until_done(run) == {'FINISHED'}, reports
    # What the progress bar showed last is the backend's own stage, not the worker's
    assert run.task.stage not in ("Connecting to the backend", "Queued") and run.task.fraction > 0
    assert rig.animation_data.action.name.startswith("a person walks forward")
    assert reports[-1].startswith(f"'{rig.animation_data.action.name}' on {rig.name}")
    assert session().task is None and bpy.ops.moscale.generate.poll()


@pytest.mark.parametrize("how", ["Esc", "Cancel button"])
def test_cancel_changes_nothing(rig, backend, how):
    bpy.context.scene.moscale.seconds = 300.0
    before = (sorted(action.name for action in bpy.data.actions), rig.animation_data.action.name)
    reports = []
    run = operators().GenerateRun(operators().plan_generation(bpy.context), lambda kind, text: reports.append(text))
    if how == "Esc":
        assert run.tick(bpy.context, 'ESC') == {'RUNNING_MODAL'}  # Esc is taken, not passed on
    else:
        assert bpy.ops.moscale.cancel() == {'FINISHED'}
    assert run_until_done(run) == {'CANCELLED'} and reports == ["Generation cancelled; nothing was changed"]
    assert (sorted(action.name for action in bpy.data.actions), rig.animation_data.action.name) == before
    assert session().task is None
    assert backend.client.status()["stats"]["open_jobs"] == 0
