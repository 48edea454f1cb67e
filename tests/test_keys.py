"""keys: one RSA-2048 pair per actor, created when missing, private files 0600, refused when too open."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedi import keys
from fedi.errors import KeyFileError


def test_missing_pairs_are_created_0600(tmp_path: Path) -> None:
    """Both actors get a PKCS#8 RSA-2048 private key (0600) and an SPKI public key."""
    pairs = keys.load_or_create(tmp_path / "keys")
    assert set(pairs) == {"archive", "owner"}
    for role, pair in pairs.items():
        path = keys.private_path(tmp_path / "keys", role)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
        assert pair.private.key_size == 2048
        assert pair.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
        assert keys.public_path(tmp_path / "keys", role).read_text() == pair.public_pem
    assert pairs["archive"].public_pem != pairs["owner"].public_pem


def test_existing_keys_are_reused(tmp_path: Path) -> None:
    """A second load returns the same keys, and generate() leaves them alone unless forced."""
    first = keys.load_or_create(tmp_path)
    second = keys.load_or_create(tmp_path)
    assert first["archive"].public_pem == second["archive"].public_pem
    assert keys.generate(tmp_path) == []
    written = keys.generate(tmp_path, force=True)
    assert len(written) == 2
    assert keys.load_or_create(tmp_path)["archive"].public_pem != first["archive"].public_pem


def test_world_readable_key_is_refused_with_fix(tmp_path: Path) -> None:
    """A private key readable by others stops fedi and says which chmod fixes it."""
    keys.load_or_create(tmp_path)
    path = keys.private_path(tmp_path, "archive")
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError) as info:
        keys.load_or_create(tmp_path)
    assert f"chmod 600 {path}" in str(info.value)
    assert "PRIVATE KEY" not in str(info.value)


def test_malformed_and_weak_keys(tmp_path: Path) -> None:
    """Garbage and short keys are clear errors."""
    keys.load_or_create(tmp_path)
    path = keys.private_path(tmp_path, "owner")
    path.write_text("not a key")
    with pytest.raises(KeyFileError, match="not an unencrypted PEM private key"):
        keys.load_or_create(tmp_path)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path.write_bytes(weak.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    with pytest.raises(KeyFileError, match="at least 2048 bits"):
        keys.load_or_create(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; the next test covers the same path")
def test_unreadable_key_file(tmp_path: Path) -> None:
    """A key file fedi cannot read names the file."""
    keys.load_or_create(tmp_path)
    path = keys.private_path(tmp_path, "archive")
    os.chmod(path, 0o000)
    with pytest.raises(KeyFileError, match="cannot read"):
        keys.load_or_create(tmp_path)


def test_key_path_that_cannot_be_read(tmp_path: Path) -> None:
    """A folder where the key file should be is reported as unreadable, whoever runs the test."""
    path = keys.private_path(tmp_path, "archive")
    path.mkdir(parents=True)
    os.chmod(path, 0o700)
    with pytest.raises(KeyFileError, match="cannot read"):
        keys.load_or_create(tmp_path)


def test_repr_never_shows_the_key(tmp_path: Path) -> None:
    """Printing a key pair shows no key material."""
    pair = keys.load_or_create(tmp_path)["archive"]
    assert "BEGIN" not in repr(pair) and "BEGIN" not in str(pair)


def test_damaged_key_is_refused(tmp_path: Path) -> None:
    """A key whose signatures no longer verify (damaged CRT values) is refused, naming the file."""
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_numbers()
    bad = rsa.RSAPrivateNumbers(good.p, good.q, good.d + 2, good.dmp1 + 2, good.dmq1, good.iqmp,
                                good.public_numbers).private_key(unsafe_skip_rsa_key_validation=True)
    path = keys.private_path(tmp_path, "archive")
    path.write_bytes(bad.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="archive.private.pem: the key is damaged"):
        keys.load_private(path)
