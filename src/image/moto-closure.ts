/** The Python program that finds what moto_server imports to serve the KMS API (see moto-image.ts). */
// Kept as a string so the built CLI needs no file next to it; run as `python -S -c`.
export const MOTO_CLOSURE_PY = `"""Prints what moto_server needs to serve the AWS KMS API, as JSON: the interpreter, its stdlib
directory, and the top-level entries of the pip --target directory (argv[1]) that the server
imported while it answered every call the awskms seal makes (and the ones \`vaultctl up --dev-kms\`
makes). vaultctl builds the moto image from exactly these, so the image holds no unused packages.
Run with the Python the image is built from: PYTHONPATH=<target> python3 moto-closure.py <target>
"""
import json
import os
import sys
import sysconfig
import urllib.request

target = os.path.realpath(sys.argv[1])
opened = set()


def audit(event, args):
    if event == "open" and isinstance(args[0], str):
        opened.add(os.path.realpath(args[0]))


sys.addaudithook(audit)
import moto.server  # noqa: E402,F401  (the image runs python -m moto.server)
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()


def kms(action, body):
    req = urllib.request.Request(
        f"http://{host}:{port}/",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"TrentService.{action}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=x/20250101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read() or b"{}")


key = kms("CreateKey", {"Description": "closure"})["KeyMetadata"]["KeyId"]
kms("CreateAlias", {"AliasName": "alias/closure", "TargetKeyId": key})
kms("DescribeKey", {"KeyId": "alias/closure"})
kms("ListAliases", {})
blob = kms("Encrypt", {"KeyId": "alias/closure", "Plaintext": "aGVsbG8="})["CiphertextBlob"]
kms("Decrypt", {"CiphertextBlob": blob})
try:
    kms("DescribeKey", {"KeyId": "alias/missing"})
except Exception:
    pass
server.stop()

top = set()
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if not f:
        continue
    f = os.path.realpath(f)
    if f.startswith(target + os.sep):
        top.add(os.path.relpath(f, target).split(os.sep)[0])
# Packages read their own metadata (importlib.metadata): keep the dist-info of every kept package.
names = {t.split(".")[0].lower().replace("-", "_") for t in top}
for entry in os.listdir(target):
    if entry.endswith(".dist-info") and entry.split("-")[0].lower() in names:
        top.add(entry)
# moto (every AWS service) and botocore's data (every service model) are most of the size: keep
# only the subpackages and service models the KMS calls touched.
used = {os.path.realpath(getattr(m, "__file__", None) or "/") for m in list(sys.modules.values())} | opened
prune = {}
for base in ("moto", os.path.join("botocore", "data")):
    root = os.path.join(target, base)
    kept = set()
    for f in used:
        if f.startswith(root + os.sep):
            rel = os.path.relpath(f, root).split(os.sep)
            kept.add(rel[0])
    prune[base] = sorted(kept)
print(json.dumps({
    "prune": prune,
    "python": os.path.realpath(sys.executable),
    "stdlib": sysconfig.get_paths()["stdlib"],
    "version": sys.version.split()[0],
    "entries": sorted(top),
}))
`;
