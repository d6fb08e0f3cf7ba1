"""Bot Connector tokens made here: local RSA keys, an OpenID metadata + JWKS server on 127.0.0.1, signed JWTs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"
APP_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "endorsements": endorsements}


@dataclass
class KeyServer:
    """What login.botframework.com serves: the OpenID document and the key set it points to."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    down: bool = False
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> KeyServer:
        app = web.Application()

        async def metadata(request: web.Request) -> web.Response:
            self.requests += 1
            if self.down:
                return web.Response(status=503)
            return web.json_response({"issuer": ISSUER, "authorization_endpoint": "https://invalid.botframework.com",
                                      "jwks_uri": f"{self.url.rsplit('/', 3)[0]}/v1/.well-known/keys",
                                      "id_token_signing_alg_values_supported": ["RS256"],
                                      "token_endpoint_auth_methods_supported": ["private_key_jwt"]})

        async def keys(request: web.Request) -> web.Response:
            return web.json_response({"keys": self.keys})

        app.router.add_get("/v1/.well-known/openidconfiguration", metadata)
        app.router.add_get("/v1/.well-known/keys", keys)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/v1/.well-known/openidconfiguration"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def token(key: rsa.RSAPrivateKey, *, kid: str = "k1", service_url: str, audience: str = APP_ID,
          issuer: str = ISSUER, expires_in: float = 3600, not_before: float | None = None,
          algorithm: str = "RS256", **claims: Any) -> str:
    now = time.time()
    payload: dict[str, Any] = {"iss": issuer, "aud": audience, "exp": int(now + expires_in),
                               "nbf": int(not_before if not_before is not None else now - 60),
                               "serviceurl": service_url, **claims}
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})
