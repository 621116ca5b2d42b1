import pytest

from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.woocommerce.emulator import WooCommerceEmulator


@pytest.fixture
def shop(tmp_path):
    """An empty WooCommerce shop (the emulator, no rate limit) to load into; `shop.emulator` is its state."""
    (tmp_path / "empty").mkdir()
    emulator = WooCommerceEmulator(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    with running(emulator, lifetime=300) as handle:
        handle.emulator = emulator
        yield handle
