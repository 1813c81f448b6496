import re
from pathlib import Path

from edgeseg.cli.reference import END, START, cli_reference

README = Path(__file__).resolve().parents[1] / "README.md"


def test_cli_reference_matches_the_app():
    text = README.read_text(encoding="utf-8")
    section = text.split(START, 1)[1].split(END, 1)[0]
    assert section.strip() == cli_reference().strip(), "README's CLI reference is stale: run `make readme`"


def test_quick_start_has_exactly_two_commands_and_the_makefile_has_them():
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", quick, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    makefile = (README.parent / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_readme_has_no_unfilled_sections():
    markers = re.findall(r"^[A-Z][A-Z_]{5,}$", README.read_text(encoding="utf-8"), re.M)
    assert not markers, f"unfilled README sections: {markers}"


def test_commands_in_the_prose_use_real_options():
    """Every `edgeseg CMD ... --opt` the README shows (outside the generated reference) names an
    option CMD really has, so the examples cannot drift from the code."""
    import typer.main

    from edgeseg.cli import app

    commands = typer.main.get_command(app).commands
    text = README.read_text(encoding="utf-8")
    prose = text.split(START, 1)[0] + text.split(END, 1)[1]
    prose = prose.replace("\\\n", " ")  # shell line continuations
    checked = 0
    for name, rest in re.findall(r"edgeseg ([a-z]+)([^`\n]*)", prose):
        if name not in commands:
            continue  # prose such as "edgeseg takes ..."
        known = {opt for param in commands[name].params for opt in (*param.opts, *param.secondary_opts)}
        used = re.findall(r"(?<!\S)(--?[a-z][a-z0-9-]*)", rest.split(" #", 1)[0])
        unknown = [opt for opt in used if opt not in known]
        assert not unknown, f"README: `edgeseg {name}` has no option {unknown}"
        checked += len(used)
    assert checked > 20  # the examples really were found
