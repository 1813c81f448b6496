import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models train faster on one thread, and do not stall when other jobs share the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
