"""Training: the papers' losses, one recipe per family, and the trainer (checkpoints, resume, DDP).

`from edgeseg.train import TrainConfig, train` (torch is needed here, unlike edgeseg.data).
"""

from .loop import TrainConfig, train
from .recipes import RECIPES, Phase, Recipe, recipe_for

__all__ = ["RECIPES", "Phase", "Recipe", "TrainConfig", "recipe_for", "train"]
