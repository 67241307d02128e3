"""Generates the Python gRPC code for shikaku.v1 from the repository's .proto files.

    python3 generate.py [OUT_DIR]        (default: ./gen)

Run it after `pip install grpcio grpcio-tools`; then put OUT_DIR on PYTHONPATH (receipt_computer.py
does that itself for ./gen).
"""

import pathlib
import sys

from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"


def generate(out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "shikaku" / "v1").glob("*.proto"))
    # The (google.api.field_behavior) annotations' definition, vendored beside the contract: its
    # module (google.api.field_behavior_pb2) joins the google namespace package protobuf installs.
    files.append("google/api/field_behavior.proto")
    # grpc_tools ships the well-known types; its own include path comes first.
    include = pathlib.Path(protoc.__file__).resolve().parent / "_proto"
    args = ["grpc_tools.protoc", f"-I{include}", f"-I{PROTO_ROOT}", f"--python_out={out}", f"--grpc_python_out={out}", *files]
    if protoc.main(args) != 0:
        sys.exit(f"protoc failed for {files}")


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "gen")
