"""Protobuf messages encoded by hand (wire format: https://protobuf.dev/programming-guides/encoding/),
for samples built the way an attacker would. Field numbers come from the published .proto files
cited in pais_cli/formats/onnx.py and pais_cli/formats/tfgraph.py."""

from __future__ import annotations


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ld(field: int, payload: bytes | str) -> bytes:
    """A length-delimited field: a string, bytes or an embedded message."""
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(field << 3 | 2) + varint(len(data)) + data


def vi(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


# ---- ONNX (onnx/onnx.proto)

def onnx_tensor(name: str, location: str | None = None, external: bool = True) -> bytes:
    msg = vi(1, 4) + vi(2, 1) + ld(8, name)  # dims=[4], data_type=FLOAT
    if location is not None:
        msg += ld(13, ld(1, "location") + ld(2, location))
    if external:
        msg += vi(14, 1)  # data_location = EXTERNAL
    return msg


def onnx_node(op: str, domain: str = "") -> bytes:
    return ld(1, "x") + ld(2, "y") + ld(4, op) + (ld(7, domain) if domain else b"")


def onnx_model(nodes: list[bytes], initializers: list[bytes] = (), domains: tuple[str, ...] = ("",)) -> bytes:
    graph = b"".join(ld(1, n) for n in nodes) + ld(2, "g") + b"".join(ld(5, t) for t in initializers)
    opsets = b"".join(ld(8, ld(1, d) + vi(2, 17)) for d in domains)
    return vi(1, 8) + opsets + ld(7, graph)


# ---- TensorFlow (core/framework/graph.proto, node_def.proto, function.proto, attr_value.proto;
#      core/protobuf/saved_model.proto, meta_graph.proto)

def tf_node(name: str, op: str, strings: dict[str, str] | None = None) -> bytes:
    msg = ld(1, name) + ld(2, op)
    for key, value in (strings or {}).items():
        msg += ld(5, ld(1, key) + ld(2, ld(2, value)))  # attr map entry: key, AttrValue{s}
    return msg


def tf_function(name: str, nodes: list[bytes]) -> bytes:
    return ld(1, ld(1, name)) + b"".join(ld(3, n) for n in nodes)  # signature{name}, node_def


def tf_graph_def(nodes: list[bytes], functions: list[bytes] = ()) -> bytes:
    library = b"".join(ld(1, f) for f in functions)
    return b"".join(ld(1, n) for n in nodes) + (ld(2, library) if library else b"") + ld(4, vi(1, 1087))


def tf_saved_model(graph_def: bytes, saver_restore_op: str | None = None) -> bytes:
    meta = ld(2, graph_def)
    if saver_restore_op:
        meta += ld(3, ld(1, "save/Const:0") + ld(2, "save/Identity:0") + ld(3, saver_restore_op))
    return vi(1, 1) + ld(2, meta)


def tf2_saver_functions() -> list[bytes]:
    """The save/restore functions tf.saved_model.save writes (names as TF 2.x gives them)."""
    save = tf_function("__inference__traced_save_85", [
        tf_node("StaticRegexFullMatch", "StaticRegexFullMatch"), tf_node("StringJoin", "StringJoin"),
        tf_node("ShardedFilename", "ShardedFilename"), tf_node("SaveV2", "SaveV2"),
        tf_node("MergeV2Checkpoints", "MergeV2Checkpoints"), tf_node("Identity", "Identity")])
    restore = tf_function("__inference__traced_restore_110", [
        tf_node("RestoreV2", "RestoreV2"), tf_node("AssignVariableOp", "AssignVariableOp")])
    return [save, restore]
