"""One rule for configuration: `typecheck.parse` builds an options dataclass from user input (text or
JSON values), `check_fields` validates one; every error names the field."""

from dataclasses import dataclass
from typing import Annotated

import pytest

from edgeseg.errors import EdgesegError, IntegrityError
from edgeseg.typecheck import Limits, PositiveFloat, PositiveInt, check_fields, parse


@dataclass(frozen=True)
class Opts:
    size: PositiveInt = 8
    scale: PositiveFloat = 1.0
    flag: bool = False
    name: str = "a"
    stages: Annotated[int, Limits(ge=1, le=4)] = 4
    weights: str | None = None


def test_text_is_read_as_each_fields_type():
    text = {"size": "3", "scale": "0.25", "flag": "true", "name": "7", "stages": "2", "weights": "null"}
    opts = parse(Opts, text, "x")
    assert opts == Opts(size=3, scale=0.25, flag=True, name="7", stages=2, weights=None)


def test_json_values_pass_through_and_an_int_widens_to_a_float_field():
    opts = parse(Opts, {"size": 3, "scale": 2, "flag": False, "weights": "w.safetensors"}, "x")
    assert opts.scale == 2.0 and isinstance(opts.scale, float) and opts.weights == "w.safetensors"


@pytest.mark.parametrize("values, message", [
    ({"size": 0}, "model 'm': size must be a positive integer, got 0"),
    ({"size": "two"}, "model 'm': size must be a positive integer, got 'two'"),
    ({"size": True}, "size must be a positive integer, got True"),
    ({"size": 2.0}, "size must be a positive integer, got 2.0"),
    ({"scale": "-1"}, "scale must be a positive number, got -1.0"),
    ({"scale": False}, "scale must be a positive number"),
    ({"flag": "maybe"}, "flag must be true or false, got 'maybe'"),
    ({"flag": 1}, "flag must be true or false, got 1"),
    ({"name": 3}, "name must be a string, got 3"),
    ({"stages": 5}, "stages must be 1..4, got 5"),
    ({"depth": 3}, "model 'm' has no option 'depth'; valid options: flag, name, scale, size, stages, weights"),
])
def test_bad_values_fail_naming_the_field(values, message):
    with pytest.raises(EdgesegError) as err:
        parse(Opts, values, "model 'm'")
    assert message in str(err.value)


def test_check_fields_raises_the_callers_error_class():
    with pytest.raises(IntegrityError, match="sidecar: size must be a positive integer"):
        check_fields(Opts(size=-1), "sidecar", IntegrityError)


@dataclass(frozen=True)
class ListOpts:
    weights: tuple[PositiveFloat, ...] = ()


def test_lists_are_read_from_commas_or_sequences_and_every_item_is_checked():
    assert parse(ListOpts, {"weights": "1, 2.5,4"}, "recipe").weights == (1.0, 2.5, 4.0)
    assert parse(ListOpts, {"weights": [1, 2]}, "recipe").weights == (1.0, 2.0)
    assert parse(ListOpts, {"weights": ""}, "recipe").weights == ()
    for bad in ("1,-2", "1,x", "1,,2"):
        with pytest.raises(EdgesegError, match=f"recipe: weights must be a comma-separated list, each a positive "
                                               f"number, got '{bad}'"):
            parse(ListOpts, {"weights": bad}, "recipe")
    with pytest.raises(EdgesegError, match="recipe: weights must be a list, got 3"):
        parse(ListOpts, {"weights": 3}, "recipe")
