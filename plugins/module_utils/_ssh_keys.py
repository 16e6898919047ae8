# -*- coding: utf-8 -*-
# Copyright: (c) 2026, SquareMCP platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH public key lines: type, size and the signature algorithms sshd would accept them with.

Plain Python (no Ansible imports). The key blob is the RFC 4253 / RFC 8709 wire format: a string
naming the type, then the type's fields (``ssh-rsa``: e and n as mpints; ``ssh-dss``: p, q, g, y;
ECDSA: curve name and point; Ed25519: the 32-byte key; ``sk-`` keys add an application string).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import struct

# Key type -> signature algorithms sshd checks against PubkeyAcceptedAlgorithms (an ssh-rsa key
# signs with rsa-sha2-512 / rsa-sha2-256 unless a client insists on SHA-1 ssh-rsa).
SIGNATURE_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}
FIXED_BITS = {
    "ssh-ed25519": 256,
    "sk-ssh-ed25519@openssh.com": 256,
    "ecdsa-sha2-nistp256": 256,
    "ecdsa-sha2-nistp384": 384,
    "ecdsa-sha2-nistp521": 521,
    "sk-ecdsa-sha2-nistp256@openssh.com": 256,
}


class SshKeyError(ValueError):
    """A line that is not an OpenSSH public key (the message says why)."""


@dataclasses.dataclass(frozen=True)
class PublicKey:
    type: str
    bits: int
    comment: str
    signature_algorithms: tuple

    def as_dict(self) -> dict:
        return {"type": self.type, "bits": self.bits, "comment": self.comment,
                "signature_algorithms": list(self.signature_algorithms)}


def _fields(blob: bytes) -> list:
    """Split a key blob into its length-prefixed fields."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise SshKeyError("the key data ends inside a length field")
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        offset += 4
        if offset + length > len(blob):
            raise SshKeyError("the key data is shorter than a field it announces")
        fields.append(blob[offset:offset + length])
        offset += length
    return fields


def _mpint_bits(value: bytes) -> int:
    return int.from_bytes(value, "big").bit_length()


def parse(line: str) -> PublicKey:
    """``"ssh-ed25519 AAAA... comment"`` -> :class:`PublicKey`; raises :class:`SshKeyError`."""
    if not isinstance(line, str):
        raise SshKeyError("expected one line of text, got %s" % type(line).__name__)
    parts = line.strip().split(None, 2)
    if len(parts) < 2:
        raise SshKeyError("expected '<type> <base64 key> [comment]'")
    key_type, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SshKeyError("the key data is not valid base64")
    fields = _fields(blob)
    if not fields or fields[0] != key_type.encode():
        named = fields[0].decode("ascii", "replace") if fields else ""
        raise SshKeyError("the key data names type %r, the line says %r" % (named, key_type))
    if key_type == "ssh-rsa":
        if len(fields) != 3:
            raise SshKeyError("an ssh-rsa key has 2 fields (e, n), this one %d" % (len(fields) - 1))
        bits = _mpint_bits(fields[2])
    elif key_type == "ssh-dss":
        if len(fields) != 5:
            raise SshKeyError("an ssh-dss key has 4 fields (p, q, g, y), this one %d" % (len(fields) - 1))
        bits = _mpint_bits(fields[1])
    elif key_type in FIXED_BITS:
        bits = FIXED_BITS[key_type]
    else:
        raise SshKeyError("unknown key type %r" % key_type)
    return PublicKey(type=key_type, bits=bits, comment=parts[2] if len(parts) > 2 else "",
                     signature_algorithms=SIGNATURE_ALGORITHMS.get(key_type, (key_type,)))
