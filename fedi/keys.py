"""The actors' key pairs in ``keys/``: RSA-2048, PKCS#8 PEM, private files 0600, loaded once per process.

Only this module reads private key files. A missing pair is generated; a file that is unreadable,
malformed or open to other users stops fedi with a message that says how to fix it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .errors import KeyFileError
from .urls import ROLES


@dataclass(frozen=True, repr=False)
class KeyPair:
    private: rsa.RSAPrivateKey
    public_pem: str
    """SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``), the form PeerTube insists on."""

    def __repr__(self) -> str:  # never print a private key, even by accident
        return "KeyPair(<private>)"


def private_path(keys_dir: Path, role: str) -> Path:
    return keys_dir / f"{role}.private.pem"


def public_path(keys_dir: Path, role: str) -> Path:
    return keys_dir / f"{role}.public.pem"


def load_or_create(keys_dir: Path, roles: tuple[str, ...] = ROLES) -> dict[str, KeyPair]:
    """Every actor's pair, generating the ones that are missing."""
    return {role: _load_or_create_one(keys_dir, role) for role in roles}


def generate(keys_dir: Path, roles: tuple[str, ...] = ROLES, force: bool = False) -> list[Path]:
    """Create missing pairs (all of them with ``force``); returns the private key files written."""
    written = []
    for role in roles:
        path = private_path(keys_dir, role)
        if path.exists() and not force:
            continue
        if force and path.exists():
            path.unlink()
        _create(keys_dir, role)
        written.append(path)
    return written


def _load_or_create_one(keys_dir: Path, role: str) -> KeyPair:
    path = private_path(keys_dir, role)
    if not path.exists():
        return _create(keys_dir, role)
    return load_private(path)


def load_private(path: Path) -> KeyPair:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: private key is readable by other users (mode {stat.S_IMODE(mode):04o}); "
                           f"fix it with: chmod 600 {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror} "
                           f"(check that fedi runs as the file's owner)") from None
    try:
        # OpenSSL's full check of an RSA key (p and q prime…) costs ~70 ms per key, paid by every fedi process
        # at start; what receivers depend on is that the key signs what its public half verifies, which
        # ``_signs`` proves in ~2 ms. The file is our own (0600, checked above), not an untrusted input.
        key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path}: not an unencrypted PEM private key; move it away and run "
                           f"'fedi keys generate' to create a new pair") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise KeyFileError(f"{path}: fedi needs an RSA key of at least 2048 bits (what Mastodon and PeerTube verify)")
    if not _signs(key):
        raise KeyFileError(f"{path}: the key is damaged (its signatures do not verify with its own public key); "
                           f"restore it from a backup, or move it away and run 'fedi keys generate'")
    return _pair(key)


def _signs(key: rsa.RSAPrivateKey) -> bool:
    """A signature made with the key verifies with its public half."""
    message = b"fedi key self-test"
    try:
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _pair(key: rsa.RSAPrivateKey) -> KeyPair:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(private=key, public_pem=pem.decode("ascii"))


def _create(keys_dir: Path, role: str) -> KeyPair:
    try:
        keys_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"{keys_dir}: cannot create the keys folder: {exc.strerror}") from None
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = private_path(keys_dir, role)
    tmp = path.with_suffix(".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        pair = _pair(key)
        public_path(keys_dir, role).write_text(pair.public_pem, encoding="ascii")
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write the key file: {exc.strerror}") from None
    return pair
