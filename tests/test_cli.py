import pytest
from clirun import invoke


def test_models_table_lists_every_family():
    from edgeseg.models import list_models

    result = invoke("models", "--img-size", "32")
    assert result.exit_code == 0, result.output
    for name in list_models():
        assert name in result.output


def test_user_error_is_one_line_and_exit_2():
    result = invoke("models", "--img-size", "40")
    assert result.exit_code == 2
    assert result.says("multiple of")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [
    ["train", "unet", "--data", "synthetic:nuclei?n=4&size=32"],
    ["export", "missing-checkpoint"],
    ["bench", "missing-bundle"],
    ["demo"],
])
def test_out_that_is_a_file_is_refused_up_front(tmp_path, command):
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    result = invoke(*command, "--out", taken)
    assert result.exit_code == 2, result.output
    assert result.says("is a file") and "Traceback" not in result.output
    assert taken.read_text() == "keep me"


def test_file_system_error_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "file").write_text("")
    result = invoke("train", "unet", "--data", "synthetic:nuclei?n=4&size=32", "--epochs", "1",
                    "-c", "width_mult=0.125", "--out", tmp_path / "file" / "run")
    assert result.exit_code == 2, result.output
    assert result.says("Not a directory")
    assert not isinstance(result.exception, OSError)
