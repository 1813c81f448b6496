import pytest

from .bundles import make_bundle


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    """Binary RGB model, dynamic batch, 32x32: (folder, manifest, torch model)."""
    folder = tmp_path_factory.mktemp("bundle")
    manifest, model = make_bundle(folder)
    return folder, manifest, model


@pytest.fixture(scope="session")
def gray_multiclass_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gray3")
    manifest, model = make_bundle(folder, classes=3, color="gray", size=(24, 40), batch=2)
    return folder, manifest, model
