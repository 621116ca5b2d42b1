"""The kit's session reads the proxy environment once per host and otherwise merges settings as requests does."""

from __future__ import annotations

import pytest
import requests

from cart_pipelines.platforms.kit import http


@pytest.mark.parametrize("env", [
    {},
    {"HTTPS_PROXY": "http://proxy.example:3128"},
    {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "shop.example"},
    {"http_proxy": "http://p:1", "no_proxy": "127.0.0.1,localhost"},
    {"REQUESTS_CA_BUNDLE": "/tmp/ca.pem"},
    {"CURL_CA_BUNDLE": "/tmp/curl.pem", "ALL_PROXY": "socks5://p:9"},
])
@pytest.mark.parametrize("url", ["https://shop.example/api/v3/products?page=2", "http://127.0.0.1:8080/v2/orders"])
@pytest.mark.parametrize("verify", [True, None, False, "/etc/own-ca.pem"])
def test_settings_are_requests_own(monkeypatch, env, url, verify):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "all_proxy",
                 "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ours, theirs = http.EnvironmentOnceSession(), requests.Session()
    for session in (ours, theirs):
        session.verify = "/etc/session-ca.pem"
    for _ in range(2):  # the second from the cache
        assert ours.merge_environment_settings(url, {}, None, verify, None) == \
            theirs.merge_environment_settings(url, {}, None, verify, None)
    assert ours.merge_environment_settings(url, {"https": "http://given:1"}, True, verify, "c.pem") == \
        theirs.merge_environment_settings(url, {"https": "http://given:1"}, True, verify, "c.pem")


def test_the_environment_is_read_once_per_host(monkeypatch):
    calls = []
    real = requests.utils.get_environ_proxies
    monkeypatch.setattr(requests.utils, "get_environ_proxies", lambda url, no_proxy=None: calls.append(url)
                        or real(url, no_proxy=no_proxy))
    session = http.EnvironmentOnceSession()
    for page in range(50):
        session.merge_environment_settings(f"https://shop.example/v3/orders/{page}/products", {}, None, True, None)
    session.merge_environment_settings("https://cdn.example/file.jsonl", {}, None, True, None)
    assert len(calls) == 2
    for host in range(http.EnvironmentOnceSession.MAX_HOSTS * 3):  # bounded, however many hosts
        session.merge_environment_settings(f"https://h{host}.example/", {}, None, True, None)
    assert len(session._env_proxies) <= http.EnvironmentOnceSession.MAX_HOSTS
