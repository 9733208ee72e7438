"""A target armature's rest pose as numpy arrays, the form the retargeting maths reads.

The bpy glue fills it from `armature.bones` (`head_local`, `tail_local`, `matrix_local`: all in
armature space, Blender's rest pose); nothing here touches bpy.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Rig:
    """Bones ordered parents first; `parents[i]` is the index of bone i's parent, -1 for a root."""

    name: str
    bone_names: tuple[str, ...]
    parents: tuple[int, ...]
    heads: np.ndarray     # [B, 3]
    tails: np.ndarray     # [B, 3]
    matrices: np.ndarray  # [B, 4, 4] rest matrix: columns are the bone's X, Y (head to tail), Z and head
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        count = len(self.bone_names)
        for name, shape in (("heads", (count, 3)), ("tails", (count, 3)), ("matrices", (count, 4, 4))):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"Rig '{self.name}': {name} must have shape {shape}, got {value.shape}")
            object.__setattr__(self, name, value)
        if len(self.parents) != count or any(not -1 <= p < i for i, p in enumerate(self.parents)):
            raise ValueError(f"Rig '{self.name}': every bone needs a parent listed before it (or -1)")
        object.__setattr__(self, "_index", {bone: i for i, bone in enumerate(self.bone_names)})

    @classmethod
    def from_bones(cls, name: str, bones) -> "Rig":
        """From (name, parent name or None, head, tail, 4x4 rest matrix) per bone, in any order."""
        bones = list(bones)
        parent_of = {bone[0]: bone[1] for bone in bones}
        unknown = sorted({p for p in parent_of.values() if p is not None and p not in parent_of})
        if unknown:
            raise ValueError(f"Rig '{name}': parent bones not in the rig: {', '.join(unknown)}")
        depth = {}
        for start in parent_of:  # depth of each bone, walking up each chain once
            bone, chain = start, []
            while bone is not None and bone not in depth:
                if bone in chain:
                    raise ValueError(f"Rig '{name}': bone '{bone}' is its own ancestor")
                chain.append(bone)
                bone = parent_of[bone]
            base = -1 if bone is None else depth[bone]
            for offset, link in enumerate(reversed(chain), start=1):
                depth[link] = base + offset
        ordered = sorted(bones, key=lambda bone: depth[bone[0]])  # stable: keeps siblings in order
        position = {bone[0]: i for i, bone in enumerate(ordered)}
        return cls(
            name=name,
            bone_names=tuple(bone[0] for bone in ordered),
            parents=tuple(-1 if bone[1] is None else position[bone[1]] for bone in ordered),
            heads=np.array([bone[2] for bone in ordered], dtype=np.float64).reshape(-1, 3),
            tails=np.array([bone[3] for bone in ordered], dtype=np.float64).reshape(-1, 3),
            matrices=np.array([bone[4] for bone in ordered], dtype=np.float64).reshape(-1, 4, 4),
        )

    def index(self, bone_name: str) -> int:
        return self._index[bone_name]

    def __contains__(self, bone_name: str) -> bool:
        return bone_name in self._index

    @property
    def rest_rotations(self) -> np.ndarray:
        """Rest orientation of every bone in armature space, [B, 3, 3]."""
        return self.matrices[:, :3, :3]

    def ancestors(self, bone: int) -> list[int]:
        """Indices of the bone's parent, grandparent, ... up to its root."""
        chain = []
        while self.parents[bone] >= 0:
            bone = self.parents[bone]
            chain.append(bone)
        return chain
