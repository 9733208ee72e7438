"""What lives as long as the add-on is enabled: the backend, the generation in flight, the last motion."""

import atexit

import bpy

from ..backend_process import Backend, BackendSettings

ADDON_PACKAGE = __package__.rpartition(".")[0]  # the extension's own package, e.g. bl_ext.user_default.moscale

backend: Backend | None = None
task = None          # the GenerationTask in flight, if any
last_motion = None   # the MotionData of the last generate that was written (scripts and tests read it)


def preferences():
    return bpy.context.preferences.addons[ADDON_PACKAGE].preferences


def get_backend() -> Backend:
    """The one backend; its connection file and log go to the extension's user folder."""
    global backend
    if backend is None:
        backend = Backend(bpy.utils.extension_path_user(ADDON_PACKAGE, create=True))
    return backend


def backend_settings() -> BackendSettings:
    """The preferences as plain values, read on the main thread for the worker threads."""
    prefs = preferences()
    return BackendSettings(mode=prefs.backend_mode, python=bpy.path.abspath(prefs.python), device=prefs.device,
                           checkpoint=bpy.path.abspath(prefs.checkpoint), threads=prefs.threads,
                           connect_with=prefs.connect_with, connection_file=bpy.path.abspath(prefs.connection_file),
                           host=prefs.host, port=prefs.port, token=prefs.token)


def shutdown() -> None:
    """Stop a backend the add-on started (on disable and when Blender exits)."""
    global backend, task
    if task is not None:
        task.cancel()
        task = None
    if backend is not None:
        backend.stop()
        backend = None


def register() -> None:
    atexit.register(shutdown)


def unregister() -> None:
    atexit.unregister(shutdown)
    shutdown()
