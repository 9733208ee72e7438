"""Motion representation: the 22-joint skeleton, HumanML3D features, IK and motion files."""
