"""Grant encryption at rest: MultiFernet over the configured keys (first encrypts), rotation, the key file."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from chatops.errors import ChatopsError, ConfigError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "encryption.key"
_KEYS_SETTING = "CHATOPS_ENCRYPTION_KEYS"
_SEPARATOR = "\x1f"  # between the row binding and the token; never part of an id or a token


class UndecryptableGrant(ChatopsError):
    """A stored ciphertext cannot be read with any configured key (retired key, tampering, wrong row)."""


def key_id(key: str) -> str:
    """A short, non-secret fingerprint of a key, kept beside each row to find rows still under an old key."""
    return hashlib.sha256(key.strip().encode("ascii", "replace")).hexdigest()[:16]


class GrantCipher:
    """Encrypts with the first key, decrypts with any of them (cryptography's MultiFernet).

    A `context` binds a ciphertext to its row: the store passes the workspace and grant id, so a
    ciphertext copied onto another row no longer decrypts (Fernet itself has no associated data).
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if isinstance(keys, str):  # a lone string would be read as one-character keys
            raise TypeError("GrantCipher takes a list of keys; split CHATOPS_ENCRYPTION_KEYS on commas first")
        cleaned = [key.strip() for key in keys if key.strip()]
        if not cleaned:
            raise ConfigError(
                f"{_KEYS_SETTING}: no encryption key given; generate one with `chatops keys generate`"
            )
        fernets = []
        for position, key in enumerate(cleaned, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # Never echo the key: name its position only.
                raise ConfigError(
                    f"{_KEYS_SETTING}: key {position} of {len(cleaned)} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes); generate one with `chatops keys generate`"
                ) from None
        self._multi = MultiFernet(fernets)
        self._secrets = tuple(key.encode("ascii") for key in cleaned)  # only ever HMAC keys (derive)
        self._key_ids = tuple(key_id(key) for key in cleaned)

    @property
    def key_id(self) -> str:
        """The fingerprint of the current (first) key."""
        return self._key_ids[0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return self._key_ids

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        data = f"{context}{_SEPARATOR}{plaintext}" if context else plaintext
        return self._multi.encrypt(data.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, *, context: str = "") -> str:
        """The plaintext; raises UndecryptableGrant when no key reads it or it belongs to another row."""
        try:
            data = self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise UndecryptableGrant("no configured key decrypts this grant (was its key retired?)") from None
        if not context:
            return data
        bound, separator, plaintext = data.partition(_SEPARATOR)
        if not separator or bound != context:
            raise UndecryptableGrant("this ciphertext belongs to another grant")
        return plaintext

    def rotate(self, token: str) -> str:
        """The same plaintext re-encrypted with the current key; raises UndecryptableGrant."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise UndecryptableGrant("no configured key decrypts this grant (was its key retired?)") from None

    def derive(self, purpose: str) -> list[bytes]:
        """A signing key per configured key for `purpose` (HMAC-SHA256 of the purpose), oldest first.

        Signed links (itsdangerous) use these: every replica derives the same keys, a rotation retires old
        links with the old key, and the encryption keys themselves never sign anything.
        """
        derived = [hmac.new(secret, purpose.encode("utf-8"), hashlib.sha256).digest() for secret in self._secrets]
        return derived[::-1]  # itsdangerous signs with the last key and accepts every one

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def __repr__(self) -> str:
        return f"GrantCipher(keys={len(self._key_ids)}, current={self.key_id})"


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def load_or_create_keys(configured: str, data_dir: Path) -> tuple[list[str], Path | None]:
    """The keys to use, and the path of a key file created just now (else None).

    Configured keys (comma-separated, first is current) win. Otherwise `data_dir/encryption.key` is
    read, or created once with mode 0600 so the user can be told to back it up.
    """
    keys = _split(configured)
    if keys:
        return keys, None
    path = data_dir / KEY_FILE_NAME
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path), None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot create the encryption key file ({exc.strerror}); set {_KEYS_SETTING} instead"
        ) from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        key = GrantCipher.generate_key()
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return [key], path


def _read_key_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="ascii")
        mode = path.stat().st_mode
    except (OSError, UnicodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the encryption key file ({exc}); set {_KEYS_SETTING} instead"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "the encryption key file is readable by other users; chmod 600 it", extra={"path": str(path)}
        )
    keys = _split(text)
    if not keys:
        raise ConfigError(
            f"{path}: the encryption key file is empty; restore it from a backup or set {_KEYS_SETTING}"
        )
    return keys
