"""OCMF (Open Charge Metering Format) records: the data a signing meter hands out, and how to check one.

An OCMF record is `OCMF|<payload JSON>|<signature JSON>`; the signature (`SD`, hex of a DER ECDSA
signature) covers the payload section's bytes exactly as they stand between the two pipes, hashed with
the algorithm `SA` names (default ECDSA-secp256r1-SHA256). Public keys travel as hex of the DER
SubjectPublicKeyInfo. Facts and sources: docs/reference/signed-metering.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DEFAULT_ALGORITHM = "ECDSA-secp256r1-SHA256"
# DER SubjectPublicKeyInfo header of an uncompressed P-256 point (id-ecPublicKey, prime256v1, 0x04).
P256_SPKI_PREFIX = "3059301306072A8648CE3D020106082A8648CE3D03010703420004"

_CURVES = {
    "ECDSA-secp256r1-SHA256": ("SECP256R1", "SHA256"),
    "ECDSA-secp384r1-SHA256": ("SECP384R1", "SHA256"),
    "ECDSA-secp256k1-SHA256": ("SECP256K1", "SHA256"),
    "ECDSA-brainpool256r1-SHA256": ("BrainpoolP256R1", "SHA256"),
    "ECDSA-brainpool384r1-SHA256": ("BrainpoolP384R1", "SHA256"),
}


class OcmfError(ValueError):
    """Not a well-formed OCMF record, or a key that cannot be read."""


@dataclass(frozen=True, slots=True)
class SignedTransactionRequest:
    """What the charger writes into the meter before it signs: who charges where, at what price."""

    transaction_id: str
    id_tag: str | None
    charge_point_id: str
    tariff_text: str | None = None


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """One signed dataset as the meter made it (`data` is the complete OCMF string)."""

    data: str
    public_key: str  # hex of the DER SubjectPublicKeyInfo ("" if the meter did not give one)
    encoding: str = "OCMF"
    signing_method: str = ""  # "" when the record names it (OCMF: the SA field)

    @property
    def readings(self) -> list[dict[str, Any]]:
        return list(parse(self.data).payload.get("RD", []))


@dataclass(frozen=True, slots=True)
class ParsedOcmf:
    payload_text: str
    payload: dict[str, Any]
    signature: dict[str, Any]

    @property
    def algorithm(self) -> str:
        return str(self.signature.get("SA") or DEFAULT_ALGORITHM)


def parse(record: str) -> ParsedOcmf:
    text = record.strip()
    if not text.startswith("OCMF|"):
        raise OcmfError("an OCMF record starts with 'OCMF|'")
    body = text[len("OCMF|"):]
    cut = body.rfind("|")
    if cut < 0:
        raise OcmfError("an OCMF record has three sections separated by '|'")
    payload_text, signature_text = body[:cut], body[cut + 1:]
    try:
        payload, signature = json.loads(payload_text), json.loads(signature_text)
    except json.JSONDecodeError as exc:
        raise OcmfError(f"an OCMF section is not JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(signature, dict) or "SD" not in signature:
        raise OcmfError("the OCMF payload and signature sections must be JSON objects with SD in the latter")
    return ParsedOcmf(payload_text, payload, signature)


def payload_json(payload: dict[str, Any]) -> str:
    """The compact payload text a signer signs (no spaces, order kept)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def assemble(payload_text: str, signature_hex: str, algorithm: str = DEFAULT_ALGORITHM) -> str:
    return f"OCMF|{payload_text}|" + json.dumps({"SA": algorithm, "SD": signature_hex.upper()},
                                                 separators=(",", ":"))


def sign(payload: dict[str, Any], private_key: Any) -> str:
    """A complete OCMF record of `payload`, signed with an ECDSA P-256 private key (`cryptography`)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    text = payload_json(payload)
    signature = private_key.sign(text.encode(), ec.ECDSA(hashes.SHA256()))
    return assemble(text, signature.hex())


def public_key_hex(public_key: Any) -> str:
    """Hex of the DER SubjectPublicKeyInfo of a `cryptography` public key."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return str(der.hex().upper())


def verify(record: str, public_key: str) -> ParsedOcmf:
    """Checks the record's signature against `public_key` (hex DER SubjectPublicKeyInfo, or a raw
    uncompressed P-256 point "04…"); returns the parsed record, raises OcmfError when it does not verify."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    parsed = parse(record)
    if parsed.algorithm not in _CURVES:
        raise OcmfError(f"unsupported signature algorithm {parsed.algorithm!r}")
    if parsed.signature.get("SE", "hex") not in ("hex", "base16"):
        raise OcmfError(f"unsupported signature encoding {parsed.signature['SE']!r}")
    curve_name, _ = _CURVES[parsed.algorithm]
    text = public_key.strip().removeprefix("oca:base16:asn1:")
    try:
        raw = bytes.fromhex(text)
        if raw[:1] == b"\x04":  # a bare point, as some meters print it
            key: Any = ec.EllipticCurvePublicKey.from_encoded_point(getattr(ec, curve_name)(), raw)
        else:
            key = serialization.load_der_public_key(raw)
        signature = bytes.fromhex(str(parsed.signature["SD"]))
    except ValueError as exc:
        raise OcmfError(f"cannot read the public key or signature: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise OcmfError("the public key is not an elliptic-curve key")
    try:
        key.verify(signature, parsed.payload_text.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise OcmfError("the signature does not match the data and the public key") from None
    return parsed
