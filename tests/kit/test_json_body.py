"""kit.http.json_body: the parsed body the platforms' error readers start from, None for a body that is no JSON."""

import requests

from cart_pipelines.platforms.kit.http import json_body


def answer(content: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = 500, content
    return response


def test_json_body_parses_json_and_is_none_otherwise():
    assert json_body(answer(b'{"error": "x"}')) == {"error": "x"}
    assert json_body(answer(b"[1]")) == [1]
    assert json_body(answer(b"<html>Bad gateway</html>")) is None
    assert json_body(answer(b"")) is None
