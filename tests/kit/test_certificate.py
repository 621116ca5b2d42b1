"""An untrusted TLS certificate is explained as one (and how to trust it), for every platform through the kit's
HTTP client; other connection failures keep their kind and wording."""

import socket

import pytest

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings


@pytest.mark.parametrize("name", ["woocommerce", "magento"])
def test_an_untrusted_certificate_says_how_to_trust_it(name):
    with platforms.emulate(name, products=5, tls=True, knobs=Knobs(rate_limit=False)) as h:
        src = platforms.source_class(name).connect(h.base_url, dict(h.credentials), verify=True,
                                                   settings=HttpSettings(max_attempts=3))
        with pytest.raises(ConnectionProblem) as exc:
            src.check()
        assert exc.value.kind == "unreachable"  # the kind callers act on stays the same
        message = str(exc.value)
        assert "certificate" in message and "not trusted" in message and "REQUESTS_CA_BUNDLE" in message
        assert "firewall" not in message and "127.0.0.1" in message
        assert src.client.requests_made == 1  # asking again cannot help
        trusted = platforms.source_class(name).connect(h.base_url, dict(h.credentials), verify=h.ca_file)
        assert trusted.check()


def test_a_closed_port_is_still_explained_as_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = platforms.source_class("woocommerce").connect(
        f"https://127.0.0.1:{port}", {"consumer_key": "ck_x", "consumer_secret": "cs_x"},
        settings=HttpSettings(max_attempts=1))
    with pytest.raises(ConnectionProblem) as exc:
        src.check()
    assert exc.value.kind == "unreachable" and "cannot reach WooCommerce" in str(exc.value)
    assert "firewall" in str(exc.value) and "certificate" not in str(exc.value)
