"""A software model of a FIDO authenticator's SSH keys, to test sk- key types without hardware.

Wire formats from OpenSSH's PROTOCOL.sshsig (the SSHSIG envelope) and PROTOCOL.u2f (sk public keys and
signatures): an sk-ssh-ed25519 signature is a plain Ed25519 signature over
SHA-256(application) || flags || counter || SHA-256(signed data). Only tests use this; a real
authenticator keeps the private key on the device and sets the user-presence flag after a touch.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

APPLICATION = b"ssh:"
ED_TYPE = b"sk-ssh-ed25519@openssh.com"
ECDSA_TYPE = b"sk-ecdsa-sha2-nistp256@openssh.com"
USER_PRESENT = 0x01


def _s(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


@dataclass
class SkEd25519:
    private: Ed25519PrivateKey
    counter: int = 0

    @property
    def blob(self) -> bytes:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _s(ED_TYPE) + _s(raw) + _s(APPLICATION)

    @property
    def public_line(self) -> str:
        return f"{ED_TYPE.decode()} {base64.b64encode(self.blob).decode()}"

    def sign(self, message: bytes, namespace: str = "blastwall-approval", touched: bool = True) -> str:
        """An armoured SSHSIG over `message`, as `ssh-keygen -Y sign` with an ed25519-sk key makes it."""
        self.counter += 1
        ns = namespace.encode()
        signed = b"SSHSIG" + _s(ns) + _s(b"") + _s(b"sha512") + _s(hashlib.sha512(message).digest())
        flags = USER_PRESENT if touched else 0
        to_sign = (
            hashlib.sha256(APPLICATION).digest()
            + bytes([flags])
            + struct.pack(">I", self.counter)
            + hashlib.sha256(signed).digest()
        )
        sig = self.private.sign(to_sign)
        sig_blob = _s(ED_TYPE) + _s(sig) + bytes([flags]) + struct.pack(">I", self.counter)
        env = b"SSHSIG" + struct.pack(">I", 1) + _s(self.blob) + _s(ns) + _s(b"") + _s(b"sha512") + _s(sig_blob)
        b64 = base64.b64encode(env).decode()
        body = "\n".join(b64[i : i + 70] for i in range(0, len(b64), 70))
        return f"-----BEGIN SSH SIGNATURE-----\n{body}\n-----END SSH SIGNATURE-----\n"


def sk_ed25519_keypair() -> SkEd25519:
    return SkEd25519(Ed25519PrivateKey.generate())


def sk_ecdsa_public_line() -> str:
    q = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    blob = _s(ECDSA_TYPE) + _s(b"nistp256") + _s(q) + _s(APPLICATION)
    return f"{ECDSA_TYPE.decode()} {base64.b64encode(blob).decode()}"
