"""Just enough DER to read who signed a module and which certificate is which: the PKCS#7
SignedData that sign-file appends (RFC 2315) and an X.509 certificate's serial, names and
subject key identifier (RFC 5280). Bounded: every length is checked against the bytes held."""

from __future__ import annotations

from typing import NamedTuple

SEQUENCE, SET, INTEGER, OCTET_STRING, OID = 0x30, 0x31, 0x02, 0x04, 0x06
CN_OID = "2.5.4.3"
SKID_OID = "2.5.29.14"
# the digest OIDs the kernel's pkcs7 parser knows (crypto/asymmetric_keys/pkcs7_parser.c), by modinfo's name
HASH_OIDS = {
    "1.2.840.113549.2.4": "md4", "1.2.840.113549.2.5": "md5", "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224", "2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512", "2.16.840.1.101.3.4.2.8": "sha3-256", "2.16.840.1.101.3.4.2.9": "sha3-384",
    "2.16.840.1.101.3.4.2.10": "sha3-512", "1.2.156.10197.1.401": "sm3",
}


class DerError(ValueError):
    pass


class Node(NamedTuple):
    tag: int
    body: bytes


def read_node(data: bytes, at: int = 0) -> tuple[Node, int]:
    """One TLV at `at`: the node and where the next one starts."""
    if at + 2 > len(data):
        raise DerError("cut short")
    tag, first = data[at], data[at + 1]
    at += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    else:
        length = first
    if at + length > len(data):
        raise DerError("length past the end")
    return Node(tag, data[at:at + length]), at + length


def children(body: bytes) -> list[Node]:
    nodes, at = [], 0
    while at < len(body):
        node, at = read_node(body, at)
        nodes.append(node)
    return nodes


def oid_text(body: bytes) -> str:
    if not body:
        raise DerError("empty OID")
    parts = [body[0] // 40, body[0] % 40]
    value = 0
    for byte in body[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def colon_hex(raw: bytes) -> str:
    """As modinfo prints a key id or serial: upper-case hex pairs joined by colons."""
    return ":".join(f"{b:02X}" for b in raw)


def common_name(name: Node) -> str:
    """The CN of an X.501 Name (its first), "" when it has none."""
    for rdn in children(name.body):
        for attribute in children(rdn.body):
            parts = children(attribute.body)
            if len(parts) == 2 and parts[0].tag == OID and oid_text(parts[0].body) == CN_OID:
                return parts[1].body.decode("utf-8", "replace")
    return ""


def _integer_bytes(node: Node) -> bytes:
    """An INTEGER's magnitude as kmod prints it (a leading 0x00 sign byte dropped)."""
    body = node.body
    return body[1:] if len(body) > 1 and body[0] == 0 else body


class SignerInfo(NamedTuple):
    signer: str  # the issuer's CN (modinfo's signer), or "" when signed by key identifier
    key_id: bytes  # the serial number, or the subject key identifier
    by_skid: bool  # sign-file -k: the key is named by its subject key identifier
    hash_algo: str


def pkcs7_signer(blob: bytes) -> SignerInfo:
    """The first SignerInfo of a PKCS#7 ContentInfo(SignedData): who signed and with which digest."""
    content_info, _ = read_node(blob)
    parts = children(content_info.body)
    if len(parts) < 2:
        raise DerError("no signed data")
    signed_data = children(parts[1].body)[0]  # [0] EXPLICIT SignedData
    fields = children(signed_data.body)
    signer_infos = [f for f in fields if f.tag == SET][-1]  # digestAlgorithms is a SET too; signerInfos is last
    first = children(signer_infos.body)[0]
    info = children(first.body)
    sid, digest = info[1], info[2]
    algo = oid_text(children(digest.body)[0].body)
    hash_algo = HASH_OIDS.get(algo, algo)
    if sid.tag == SEQUENCE:  # issuerAndSerialNumber
        issuer, serial = children(sid.body)
        return SignerInfo(common_name(issuer), _integer_bytes(serial), False, hash_algo)
    return SignerInfo("", sid.body, True, hash_algo)  # [0] subjectKeyIdentifier


class Certificate(NamedTuple):
    serial: bytes
    issuer: str
    subject: str
    skid: bytes  # b"" when the certificate has no subject key identifier


def x509_certificate(der: bytes) -> Certificate:
    cert, _ = read_node(der)
    tbs = children(children(cert.body)[0].body)
    if tbs and tbs[0].tag == 0xA0:  # [0] version
        tbs = tbs[1:]
    serial, _sigalg, issuer, _validity, subject = tbs[:5]
    skid = b""
    for extra in tbs[5:]:
        if extra.tag != 0xA3:
            continue
        for extension in children(children(extra.body)[0].body):
            parts = children(extension.body)
            if parts and oid_text(parts[0].body) == SKID_OID:
                skid = read_node(parts[-1].body)[0].body
    return Certificate(_integer_bytes(serial), common_name(issuer), common_name(subject), skid)
