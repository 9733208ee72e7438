"""MoScale for Blender: the text-to-motion backend (model, motion representation, generation)."""

__version__ = "0.1.0"
