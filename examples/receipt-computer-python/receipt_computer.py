"""A receipt computer (レセコン) keeping shikakud's reception list open, in Python (grpcio).

It prints each entry once, in order, as one JSON object per line
({"id", "date", "patient_number", "name", "status", "source"}), and after a disconnect or a daemon
restart reconnects and resumes after the last entry it recorded (kept in --state), skipping any
entry it already has (same id).

    python3 generate.py                      # once: code from ../../proto
    python3 receipt_computer.py --addr 127.0.0.1:50051 --state last-id.txt

With --ca, --cert and --key (or SHIKAKU_CA, SHIKAKU_CERT, SHIKAKU_KEY), from
`shikaku tls client NAME --role reception`, it talks TLS and presents its certificate; without
them, plaintext (which shikakud allows on loopback only).
"""

import argparse
import json
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, os.environ.get("SHIKAKU_PY_GEN", str(HERE / "gen")))

import grpc  # noqa: E402
from shikaku.v1 import reception_pb2, reception_pb2_grpc  # noqa: E402


def load(path):
    try:
        return int(pathlib.Path(path).read_text().strip()) if path else 0
    except (FileNotFoundError, ValueError):
        return 0


def save(path, last):
    """Written beside and renamed over, so a crash leaves the old or the new id."""
    if path:
        tmp = pathlib.Path(path).with_suffix(".tmp")
        tmp.write_text(str(last))
        os.replace(tmp, path)


def channel_for(target, args):
    """A TLS channel when TLS files are given or the address was https://, else plaintext."""
    if not (args.tls or args.ca or args.cert or args.key):
        return grpc.insecure_channel(target)
    if bool(args.cert) != bool(args.key):
        raise SystemExit("receipt_computer: --cert and --key (SHIKAKU_CERT, SHIKAKU_KEY) go together")

    def read(path):
        try:
            return pathlib.Path(path).read_bytes() if path else None
        except OSError as e:
            raise SystemExit(f"receipt_computer: cannot read {path}: {e.strerror}")

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key),
        certificate_chain=read(args.cert),
    )
    options = [("grpc.ssl_target_name_override", args.tls_domain)] if args.tls_domain else []
    return grpc.secure_channel(target, credentials, options=options)


def line(entry):
    return json.dumps(
        {
            "id": entry.id,
            "date": entry.date,
            "patient_number": entry.patient_number,
            "name": entry.name,
            "status": reception_pb2.ReceptionStatus.Name(entry.status),
            "source": reception_pb2.ReceptionSource.Name(entry.source),
        },
        ensure_ascii=False,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default=os.environ.get("SHIKAKU_ADDR", "127.0.0.1:50051"))
    parser.add_argument("--date", default="", help="受付日; today (JST) when empty")
    parser.add_argument("--state", help="file keeping the last recorded 受付番号")
    parser.add_argument("--exit-after", type=int, help="stop after this many entries")
    parser.add_argument("--ca", default=os.environ.get("SHIKAKU_CA"),
                        help="the facility CA (ca.pem); connects with TLS")
    parser.add_argument("--cert", default=os.environ.get("SHIKAKU_CERT"),
                        help="this client's certificate (cert.pem); needs --key")
    parser.add_argument("--key", default=os.environ.get("SHIKAKU_KEY"),
                        help="this client's private key (key.pem); needs --cert")
    parser.add_argument("--tls-domain", default=os.environ.get("SHIKAKU_TLS_DOMAIN"),
                        help="the name shikakud's certificate must carry (default: the address's host)")
    args = parser.parse_args()
    args.tls = args.addr.startswith("https://")
    target = args.addr.removeprefix("http://").removeprefix("https://")

    last = load(args.state)
    printed = 0
    backoff = 0.1
    while True:
        try:
            with channel_for(target, args) as channel:
                stub = reception_pb2_grpc.ReceptionServiceStub(channel)
                request = reception_pb2.WatchReceptionsRequest(date=args.date, after_id=last)
                for message in stub.WatchReceptions(request):
                    backoff = 0.1
                    entry = message.entry
                    if not message.HasField("entry") or entry.id <= last:
                        continue
                    print(line(entry), flush=True)
                    last = entry.id
                    save(args.state, last)
                    printed += 1
                    if args.exit_after is not None and printed >= args.exit_after:
                        return 0
            print(f"reception stream ended after #{last}; reconnecting", file=sys.stderr)
        except grpc.RpcError as e:
            print(f"cannot watch receptions ({e.code().name}); retrying in {backoff:.1f}s", file=sys.stderr)
        time.sleep(backoff)
        backoff = min(backoff * 2, 5.0)


if __name__ == "__main__":
    sys.exit(main())
