"""docs/ stays in step with the code: every family and variant documented, every link resolves, and
nothing points at the files the docs replaced."""

import re
from pathlib import Path

import pytest

from edgeseg.models import create_model, list_models

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_the_four_documents_exist():
    assert {p.name for p in DOCS} >= {"architecture.md", "models.md", "bundle.md", "benchmarks.md"}


@pytest.mark.parametrize("name", list_models())
def test_every_family_has_a_section_and_every_variant_a_measured_row(name):
    text = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    assert re.search(rf"^## .* — `{name}`", text, re.M), f"docs/models.md has no section for {name}"
    config = {"encoder": "vgg_light"} if name == "m2snet" else {"width_mult": 0.0625}
    for variant in create_model(name, **config).variants():
        assert re.search(rf"^\| {name} \| {variant} \| \d+ \| [\d.]+ \| [\d.]+ \|$", text, re.M), (name, variant)


@pytest.mark.parametrize("doc", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
        assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_nothing_cites_the_design_files_that_are_not_in_the_repository():
    stale = re.compile(r"MODELS\.md|ARCHITECTURE\.md|METHODOLOGY\.md")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in [*ROOT.glob("edgeseg/**/*.py"), *ROOT.glob("benchmarks/*.py"),
                                                    ROOT / "README.md", *DOCS]
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if stale.search(line)]
    assert not hits, hits
