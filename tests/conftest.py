import pytest
import torch

torch.set_num_threads(1)  # tiny tensors: threads only add noise and time


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
