"""Add-on preferences: which backend to use and how to run it."""

import bpy

from ..backend.moscale.serving.client import BackendError
from ..backend_process import find_python
from .session import ADDON_PACKAGE


class MoScalePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    backend_mode: bpy.props.EnumProperty(
        name="Backend", default='LOCAL',
        items=[('LOCAL', "Start a local backend", "The add-on starts the backend when needed and stops it on exit"),
               ('CONNECT', "Connect to a running backend", "Use a backend started with `moscale serve`")])
    python: bpy.props.StringProperty(
        name="Python", subtype='FILE_PATH',
        description="Python with the backend's packages (torch), e.g. the .venv made by the README's set-up. "
                    "Empty: $MOSCALE_PYTHON, else the Python of the moscale command on PATH, else python3")
    device: bpy.props.EnumProperty(
        name="Device", default='auto',
        items=[('auto', "Automatic", "CUDA or MPS when available, else CPU"), ('cpu', "CPU", ""),
               ('cuda', "CUDA", ""), ('mps', "Apple MPS", "")])
    checkpoint: bpy.props.StringProperty(
        name="Checkpoint", subtype='DIR_PATH', description="Model directory; empty: the model shipped with the add-on")
    threads: bpy.props.IntProperty(name="CPU threads", min=0, max=256, description="0: torch's default")
    connect_with: bpy.props.EnumProperty(
        name="Connect with", default='FILE',
        items=[('FILE', "Connection file", "The JSON file the server writes (host, port, token)"),
               ('ADDRESS', "Address and token", "Host, port and token typed in (e.g. an SSH tunnel)")])
    connection_file: bpy.props.StringProperty(
        name="Connection file", subtype='FILE_PATH',
        description="Empty: the newest server started by hand on this machine")
    host: bpy.props.StringProperty(name="Host", default="127.0.0.1")
    port: bpy.props.IntProperty(name="Port", min=0, max=65535)
    token: bpy.props.StringProperty(name="Token", subtype='PASSWORD')
    allow_rotation_mode_change: bpy.props.BoolProperty(
        name="Switch bones to quaternion rotation", default=True,
        description="Keyed bones that use Euler rotation are switched to Quaternion (the add-on reports which)")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "backend_mode")
        if self.backend_mode == 'LOCAL':
            layout.prop(self, "python")
            if not self.python:
                try:
                    layout.label(text=f"Automatic: {find_python()}")
                except BackendError as exc:
                    layout.label(text=exc.message, icon='ERROR')
            layout.prop(self, "device")
            layout.prop(self, "checkpoint")
            layout.prop(self, "threads")
            layout.label(text="Changes take effect when the backend (re)starts.")
        else:
            layout.prop(self, "connect_with")
            if self.connect_with == 'FILE':
                layout.prop(self, "connection_file")
            else:
                layout.prop(self, "host")
                layout.prop(self, "port")
                layout.prop(self, "token")
        layout.prop(self, "allow_rotation_mode_change")
