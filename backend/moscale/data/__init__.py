"""Datasets: the HumanML3D layout reader and our procedural motion corpus."""
