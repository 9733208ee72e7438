"""Everything that touches bpy: scene settings, preferences, operators, panels, the action writer."""

import bpy

from . import operators, panels, preferences, properties, session

CLASSES = (preferences.MoScalePreferences, properties.MoScaleBoneOverride, properties.MoScaleSettings,
           *operators.CLASSES, *panels.CLASSES)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.moscale = bpy.props.PointerProperty(type=properties.MoScaleSettings)
    session.register()


def unregister() -> None:
    session.unregister()
    operators.unregister()
    del bpy.types.Scene.moscale
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
