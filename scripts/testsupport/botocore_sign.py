#!/usr/bin/env python3
"""Reference S3 SigV4 signer: botocore's S3SigV4Auth, driven by a JSON spec on stdin.

The Swift tests compare their own signer's output with this byte for byte. The URL is built
here with botocore's own encoders (path: percent_encode(key, safe='/~'), query:
percent_encode_sequence), so the comparison also checks how the Swift client encodes keys.

Spec (JSON on stdin):
  method, endpoint ("http://127.0.0.1:9000"), bucket, key ("" for bucket ops),
  query: [[name, value], ...] (decoded), headers: [[name, value], ...] (without
  Authorization/X-Amz-Date/X-Amz-Security-Token/X-Amz-Content-SHA256, which botocore adds),
  body_hex or payload_sha256, time ("20150830T123600Z"), access_key, secret_key,
  token (optional), region.
Prints JSON: {"url", "authorization", "canonical_request", "string_to_sign", "headers"}.
"""
import json
import sys

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence


def main() -> None:
    spec = json.load(sys.stdin)
    path = "/" + spec["bucket"]
    if spec.get("key"):
        path += "/" + percent_encode(spec["key"], safe="/~")
    url = spec["endpoint"].rstrip("/") + path
    query = spec.get("query") or []
    if query:
        url += "?" + percent_encode_sequence([(k, v) for k, v in query])
    body = bytes.fromhex(spec["body_hex"]) if spec.get("body_hex") else b""
    headers = {k: v for k, v in spec.get("headers", [])}
    req = AWSRequest(method=spec["method"], url=url, data=body, headers=headers)
    req.context["timestamp"] = spec["time"]
    creds = Credentials(spec["access_key"], spec["secret_key"], spec.get("token"))
    auth = S3SigV4Auth(creds, "s3", spec["region"])
    if spec.get("payload_sha256"):
        forced = spec["payload_sha256"]
        auth.payload = lambda _request: forced  # type: ignore[method-assign]
    # add_auth() without its wall clock: the same steps in the same order.
    auth._modify_request_before_signing(req)
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    sig = auth.signature(sts, req)
    auth._inject_signature_to_request(req, sig)
    json.dump({
        "url": url,
        "authorization": req.headers["Authorization"],
        "canonical_request": creq,
        "string_to_sign": sts,
        "headers": [[k, v] for k, v in req.headers.items()],
    }, sys.stdout)


if __name__ == "__main__":
    main()
