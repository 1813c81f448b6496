"""docs/ stays in step with the code: every family and variant documented, every link resolves,
nothing points at the files the docs replaced, and every path, dotted edgeseg name, module attribute,
command and option the docs name exists."""

import importlib
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


def _spans(doc: Path) -> list[str]:
    """The `code` spans of a document outside its fenced blocks, each on one line."""
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", text)]


PACKAGES = ("models", "data", "train", "export", "engines", "runtime", "bench", "cli")
PATHS = re.compile(r"(?<![\w/.-])((?:edgeseg|benchmarks|tests)/[\w./-]*[\w/])")
PACKAGE_PATHS = re.compile(rf"(?<![\w/.-])((?:{'|'.join(PACKAGES)})/[\w/]+\.py)\b")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_the_docs_name_exists(doc):
    """`edgeseg/...`, `benchmarks/...` and `tests/...` paths from the repository root, `bench/api.py`
    style paths inside edgeseg/, and bare `name.py` / `name.sh` files somewhere in the repository."""
    text = doc.read_text(encoding="utf-8")
    missing = [p for p in PATHS.findall(text) if not (ROOT / p).exists()]
    missing += [f"edgeseg/{p}" for p in PACKAGE_PATHS.findall(text) if not (ROOT / "edgeseg" / p).exists()]
    files = {p.name for folder in ("edgeseg", "benchmarks", "tests") for p in (ROOT / folder).rglob("*")}
    missing += [s for s in _spans(doc) if re.fullmatch(r"[\w-]+\.(?:py|sh)", s) and s not in files]
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


def _resolve(dotted: str):
    """The object `edgeseg.a.b.name` names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_dotted_edgeseg_name_resolves(doc):
    """`edgeseg.bench.run`, `edgeseg.typecheck.check_fields`: each is a real module or attribute (schema
    tags such as `edgeseg.bundle/2` are not names)."""
    names = set(re.findall(r"\bedgeseg(?:\.\w+)+\b(?![/\w])", doc.read_text(encoding="utf-8")))
    broken = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            broken.append(name)
    assert not broken, f"{doc.name} names what edgeseg does not have: {broken}"


def _module_attributes() -> dict[str, list]:
    """Short module name (`manifest`, `results`, `bundle`) -> the edgeseg modules of that name."""
    found: dict[str, list] = {}
    for path in sorted((ROOT / "edgeseg").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] in ("__init__", "__main__"):
            continue
        found.setdefault(parts[-1], []).append(importlib.import_module(".".join(parts)))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_module_attribute_the_docs_name_exists(doc):
    """`results.COLUMNS`, `typecheck.parse(...)`, `manifest.check_fields`: MODULE.NAME where MODULE is an
    edgeseg module's short name and NAME is called, has an underscore or a capital (so that it reads as
    code, not as a file name such as `results.md` or a field such as `normalization.color`): NAME is an
    attribute of a module of that name."""
    modules = _module_attributes()
    broken = []
    for span in _spans(doc):
        for module, name, call in re.findall(r"(?<![\w./-])([a-z_]+)\.([A-Za-z_]\w*)\b(?![./\w])(\(?)", span):
            code = call or "_" in name or name != name.lower()
            if code and module in modules and not any(hasattr(m, name) for m in modules[module]):
                broken.append(f"{module}.{name}")
    assert not broken, f"{doc.name} names module attributes that do not exist: {broken}"


def _options() -> dict[str, set[str]]:
    import typer.main

    from edgeseg.cli import app

    return {name: {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            for name, command in typer.main.get_command(app).commands.items()}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_and_option_the_docs_name_exists(doc):
    """`edgeseg CMD ... --opt` and `CMD --opt` name a command and one of its options; a lone `--opt`
    is an option of some command. Other tools' commands (`nvidia-smi --loop-ms`) are not checked."""
    options = _options()
    every = set().union(*options.values())
    broken = []
    for span in _spans(doc):
        ours = re.match(r"(?:\S+=\S+ )*(?:python -m )?edgeseg ([a-z]+)\b(.*)", span)
        short = re.match(r"([a-z]+)( --.*)", span)  # `export --sign-key`
        if ours or (short and short.group(1) in options):
            command, rest = (ours or short).groups()
            if command not in options:
                broken.append(f"edgeseg {command}")
                continue
            used = re.findall(r"--[a-z][\w-]*", rest)
            broken += [f"edgeseg {command} {o}" for o in used if o not in options[command]]
        elif span.startswith("--"):
            broken += [o for o in re.findall(r"^--[a-z][\w-]*", span) if o not in every]
    assert not broken, f"{doc.name} names commands or options that do not exist: {broken}"
