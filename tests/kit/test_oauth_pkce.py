"""PKCE (RFC 7636) in the kit's OAuth client: the S256 challenge, the authorize URL and the verifier sent with the
code; a public client sends no secret."""

import base64
import hashlib
import json
import threading
from urllib.parse import parse_qs, urlsplit

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit.oauth import OAuthClient, pkce_challenge, pkce_pair


def test_s256_challenge_is_unpadded_base64url_sha256_of_the_verifier():
    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128 and set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                               "0123456789-._~")  # RFC 7636 4.1 unreserved
    assert challenge == pkce_challenge(verifier) and len(challenge) == 43 and "=" not in challenge
    assert base64.urlsafe_b64decode(challenge + "=") == hashlib.sha256(verifier.encode()).digest()


def test_authorize_url_and_exchange_carry_pkce_and_no_secret_for_public_clients():
    seen = {}

    def app(environ, start_response):
        seen.update(Request(environ).form.to_dict())
        return Response(json.dumps({"access_token": "1.t", "refresh_token": "1.r", "expires_in": 3600}),
                        content_type="application/json")(environ, start_response)

    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OAuthClient(f"http://127.0.0.1:{server.server_port}", "key", "", "http://localhost/cb",
                             authorize_path="/oauth/connect", token_path="/v3/public/oauth/token", scope="listings_r")
        verifier, challenge = pkce_pair()
        query = parse_qs(urlsplit(client.authorize_url("st", code_challenge=challenge)).query)
        assert query["code_challenge"] == [challenge] and query["code_challenge_method"] == ["S256"]
        tokens = client.exchange("the-code", code_verifier=verifier)
        assert tokens.access_token == "1.t" and seen["code_verifier"] == verifier
        assert "client_secret" not in seen and seen["client_id"] == "key"
    finally:
        server.shutdown()
        server.server_close()
