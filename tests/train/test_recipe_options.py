"""Recipe options are dataclasses read by `typecheck.parse`; `describe()` keeps the JSON keys that
checkpoints stored before."""

import pytest

from edgeseg.errors import EdgesegError
from edgeseg.train.recipes import recipe_for


def test_options_given_as_text_are_typed_and_described_with_the_same_keys():
    recipe = recipe_for("pgunet", stages="2", old_lr="1e-5")
    assert recipe.options.stages == 2 and recipe.options.old_lr == 1e-5
    assert recipe.describe()["options"] == {"stages": 2, "old_lr": 1e-5}
    assert recipe_for("plnet").describe()["options"] == {"stage1_epochs": -1}
    assert recipe_for("unet").describe()["options"] == {}


@pytest.mark.parametrize("model, options, message", [
    ("pgunet", {"stages": "5"}, "recipe 'pgunet': stages must be 1..4, got 5"),
    ("pgunet", {"old_lr": "0"}, "recipe 'pgunet': old_lr must be a positive number, got 0.0"),
    ("plnet", {"stage1_epochs": "half"}, "recipe 'plnet': stage1_epochs must be an integer >= -1, got 'half'"),
    ("m2snet", {"lossnet_weight": "-0.1"}, "recipe 'm2snet': lossnet_weight must be a non-negative number, got -0.1"),
    ("unet", {"x": "1"}, "recipe 'unet' has no option 'x'; valid options: class_weights, dice_background"),
])
def test_bad_options_name_the_recipe_and_the_field(model, options, message):
    with pytest.raises(EdgesegError) as err:
        recipe_for(model, **options)
    assert message in str(err.value)
