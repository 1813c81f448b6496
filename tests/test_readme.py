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
