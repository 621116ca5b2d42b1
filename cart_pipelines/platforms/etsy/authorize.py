"""Get the seller's Refresh Token once: `python -m cart_pipelines.platforms.etsy.authorize`.

Reads ETSY_API_KEY (keystring) and ETSY_REDIRECT_URL (the app's callback URL, e.g. http://localhost:8765/callback)
from the environment, prints Etsy's consent URL (authorization code with PKCE, scopes listings_r shops_r
transactions_r), takes the redirect on 127.0.0.1 when the callback URL is a localhost one (else asks for the URL the
browser was sent to), exchanges the code and prints the refresh token to put in ETSY_REFRESH_TOKEN. Nothing is saved.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlsplit

from cart_pipelines.platforms.etsy.source import API_URL, authorization, exchange_code
from cart_pipelines.platforms.kit.oauth import OAuthError, code_from_redirect, listen_for_code


def main() -> int:
    keystring, redirect_url = os.environ.get("ETSY_API_KEY"), os.environ.get("ETSY_REDIRECT_URL")
    if not keystring or not redirect_url:
        print("set ETSY_API_KEY (the app's keystring) and ETSY_REDIRECT_URL (its callback URL) first", file=sys.stderr)
        return 2
    url, state, verifier = authorization(keystring, redirect_url)
    print(f"Open this address, log in as the seller and press 'Allow access':\n{url}", flush=True)
    where = urlsplit(redirect_url)
    try:
        if where.hostname in ("localhost", "127.0.0.1") and where.port:
            code = listen_for_code(where.port, state)
        else:
            code = code_from_redirect(input("Paste the address the browser was sent to: ").strip(), state)
        tokens = exchange_code(keystring, redirect_url, code, verifier, os.environ.get("ETSY_API_URL") or API_URL)
    except OAuthError as exc:
        print(f"authorization failed: {exc}", file=sys.stderr)
        return 1
    print(f"ETSY_REFRESH_TOKEN={tokens.refresh_token}\n(valid 90 days; keep it secret)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
