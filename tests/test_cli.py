from typer.testing import CliRunner

from edgeseg.cli import app

runner = CliRunner()


def test_models_table_lists_every_family():
    from edgeseg.models import list_models

    result = runner.invoke(app, ["models", "--img-size", "32"])
    assert result.exit_code == 0, result.output
    for name in list_models():
        assert name in result.output


def test_user_error_is_one_line_and_exit_2():
    result = runner.invoke(app, ["models", "--img-size", "40"])
    assert result.exit_code == 2
    assert "multiple of" in result.output
    assert "Traceback" not in result.output
