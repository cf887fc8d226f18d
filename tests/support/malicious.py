"""Malicious and benign model files for the serialization check, written byte by byte.

NOTHING HERE MAY EVER BE LOADED. Every pickle is assembled from opcodes (no pickle.dumps of a
payload object), every archive from those bytes. The malicious payloads would create a marker
file if some loader did unpickle them; the tests assert the marker never appears.

Opcode reference: `pickletools` (e.g. b"c" GLOBAL, b"\\x93" STACK_GLOBAL, b"R" REDUCE).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct
import tarfile
import zipfile
from pathlib import Path

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# --------------------------------------------------------------------------- opcodes

MARK, STOP, TUPLE, TUPLE1, TUPLE2, TUPLE3 = b"(", b".", b"t", b"\x85", b"\x86", b"\x87"
REDUCE, BUILD, EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT = b"R", b"b", b")", b"]", b"}"
APPENDS, SETITEMS, POP, MEMOIZE, STACK_GLOBAL = b"e", b"u", b"0", b"\x94", b"\x93"
NEWFALSE, NEWTRUE, BINPERSID = b"\x89", b"\x88", b"Q"


def proto(n: int) -> bytes:
    return b"\x80" + bytes([n])


def frame(body: bytes) -> bytes:
    return b"\x95" + struct.pack("<Q", len(body)) + body


def global_op(module: str, name: str) -> bytes:
    """GLOBAL: 'c' module '\\n' name '\\n' (every protocol)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst_op(module: str, name: str) -> bytes:
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def string0(text: str) -> bytes:
    """Protocol-0 STRING: a quoted, escaped line."""
    return b"S" + repr(text).encode() + b"\n"


def unicode(text: str) -> bytes:
    """SHORT_BINUNICODE (protocol 4+) or BINUNICODE."""
    data = text.encode()
    return (b"\x8c" + bytes([len(data)]) if len(data) < 256 else b"X" + struct.pack("<I", len(data))) + data


def binunicode(text: str) -> bytes:
    """BINUNICODE (protocol 1+)."""
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def binint(n: int) -> bytes:
    return b"K" + bytes([n]) if 0 <= n < 256 else b"J" + struct.pack("<i", n)


def binput(i: int) -> bytes:
    return b"q" + bytes([i])


def binget(i: int) -> bytes:
    return b"h" + bytes([i])


def shell(marker: Path) -> str:
    return f"touch {marker}"


def python_payload(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


# --------------------------------------------------------------------------- malicious pickles


def os_system_proto0(marker: Path) -> bytes:
    """Protocol 0, no PROTO opcode: cos\\nsystem\\n(S'touch MARKER'\\ntR."""
    return global_op("os", "system") + MARK + string0(shell(marker)) + TUPLE + REDUCE + STOP


def subprocess_popen_proto2(marker: Path) -> bytes:
    """Protocol 2: subprocess.Popen(['touch', MARKER])."""
    argv = EMPTY_LIST + MARK + binunicode("touch") + binunicode(str(marker)) + APPENDS
    return proto(2) + global_op("subprocess", "Popen") + argv + TUPLE1 + REDUCE + STOP


def exec_stack_global(marker: Path, protocol: int = 4) -> bytes:
    """Protocol 4/5: builtins.exec via STACK_GLOBAL, names memoized as pickle writes them."""
    body = (unicode("builtins") + MEMOIZE + unicode("exec") + MEMOIZE + STACK_GLOBAL + MEMOIZE
            + unicode(python_payload(marker)) + MEMOIZE + TUPLE1 + MEMOIZE + REDUCE + MEMOIZE + STOP)
    return proto(protocol) + frame(body)


def builtin_alias_eval(marker: Path) -> bytes:
    """Protocol 2 spelling of builtins.eval: __builtin__.eval (Python 3 maps it on load)."""
    code = f"__import__('os').system({shell(marker)!r})"
    return proto(2) + global_op("__builtin__", "eval") + binunicode(code) + TUPLE1 + REDUCE + STOP


def posix_system(marker: Path) -> bytes:
    """os.system under its real module name on Linux."""
    return proto(2) + global_op("posix", "system") + binunicode(shell(marker)) + TUPLE1 + REDUCE + STOP


def nt_system_inst(marker: Path) -> bytes:
    """INST (protocol 0): builds the call from a mark, with the Windows alias of os."""
    return MARK + string0(shell(marker)) + inst_op("nt", "system") + STOP


def memo_confusion(marker: Path) -> bytes:
    """STACK_GLOBAL whose module comes from the memo, stored right after a POP: scanners that
    read the memo from the previous opcode's argument (picklescan 1.0.5) resolve 'None.system';
    the stack holds 'os'."""
    body = (unicode("os") + unicode("collections") + POP + binput(0) + POP
            + binget(0) + unicode("system") + STACK_GLOBAL + unicode(shell(marker)) + TUPLE1 + REDUCE + STOP)
    return proto(4) + body


def spawnv_passfds(marker: Path) -> bytes:
    """multiprocessing.util.spawnv_passfds forks and execs: not on picklescan 1.0.5's list."""
    argv = EMPTY_LIST + MARK + unicode("touch") + unicode(str(marker)) + APPENDS
    return (proto(4) + unicode("multiprocessing.util") + unicode("spawnv_passfds") + STACK_GLOBAL
            + unicode("/usr/bin/touch") + argv + EMPTY_TUPLE + TUPLE3 + REDUCE + STOP)


def computed_stack_global(marker: Path) -> bytes:
    """STACK_GLOBAL fed by a call result (rot13 through _codecs.encode): no static name."""
    return (proto(4) + global_op("_codecs", "encode") + unicode("bf") + unicode("rot13") + TUPLE2 + REDUCE
            + unicode("system") + STACK_GLOBAL + unicode(shell(marker)) + TUPLE1 + REDUCE + STOP)


def ext_code() -> bytes:
    """EXT1: a global taken from copyreg's extension registry, which no one can see statically."""
    return proto(2) + b"\x82\x05" + EMPTY_TUPLE + REDUCE + STOP


def truncated_after_call(marker: Path) -> bytes:
    """No STOP: a loader still runs the REDUCE before it fails on the missing bytes."""
    return proto(2) + global_op("os", "system") + binunicode(shell(marker)) + TUPLE1 + REDUCE


def benign_int_pickle() -> bytes:
    return proto(4) + binint(1) + STOP


def two_pickles(evil: bytes) -> bytes:
    """A harmless pickle, then the evil one: loaders that read several pickles run both."""
    return benign_int_pickle() + evil


# --------------------------------------------------------------------------- benign pickles


def state_dict_pickle(storage_key: str = "0", numel: int = 4) -> bytes:
    """What torch.save writes to data.pkl for {'weight': 2x2 float tensor}, by hand:
    OrderedDict + _rebuild_tensor_v2 + persistent id ('storage', torch.FloatStorage, key, 'cpu', n)."""
    pid = MARK + binunicode("storage") + global_op("torch", "FloatStorage") + binunicode(storage_key) \
        + binunicode("cpu") + binint(numel) + TUPLE + BINPERSID
    tensor = (global_op("torch._utils", "_rebuild_tensor_v2") + binput(2) + MARK + pid
              + binint(0) + binint(2) + binint(2) + TUPLE2 + binint(2) + binint(1) + TUPLE2 + NEWFALSE
              + binget(0) + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)
    return (proto(2) + global_op("collections", "OrderedDict") + binput(0) + EMPTY_TUPLE + REDUCE + binput(1)
            + MARK + binunicode("weight") + tensor + SETITEMS + STOP)


def legacy_sys_info() -> bytes:
    return (proto(2) + EMPTY_DICT + MARK + binunicode("protocol_version") + b"M\xe9\x03" + binunicode("little_endian")
            + NEWTRUE + binunicode("type_sizes") + EMPTY_DICT + MARK + binunicode("short") + binint(2)
            + binunicode("int") + binint(4) + binunicode("long") + binint(4) + SETITEMS + SETITEMS + STOP)


def legacy_torch(main: bytes, keys: tuple[str, ...] = ("0",)) -> bytes:
    """torch.save(..., _use_new_zipfile_serialization=False): magic, protocol, sys_info, the main
    pickle, the storage keys, then raw storages (8-byte element count + data)."""
    magic = proto(2) + b"\x8a\x0a" + TORCH_LEGACY_MAGIC.to_bytes(10, "little") + STOP
    protocol = proto(2) + b"M\xe9\x03" + STOP
    key_list = proto(2) + EMPTY_LIST + MARK + b"".join(binunicode(k) for k in keys) + APPENDS + STOP
    storages = b"".join(struct.pack("<q", 4) + struct.pack("<4f", 1, 2, 3, 4) for _ in keys)
    return magic + protocol + legacy_sys_info() + main + key_list + storages


# --------------------------------------------------------------------------- containers


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def torch_zip(data_pkl: bytes, prefix: str = "archive") -> bytes:
    """The torch.save zip layout: {prefix}/data.pkl, data/<key>, version, byteorder."""
    return zip_bytes({
        f"{prefix}/data.pkl": data_pkl,
        f"{prefix}/byteorder": b"little",
        f"{prefix}/data/0": struct.pack("<4f", 0.5, -0.5, 0.25, 1.0),
        f"{prefix}/version": b"3\n",
        f"{prefix}/.data/serialization_id": b"0123456789",
    })


def npy_object(payload: bytes) -> bytes:
    """A .npy v1.0 file whose dtype is object: numpy unpickles what follows the header."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    pad = 64 - (10 + len(header) + 1) % 64
    text = (header + " " * pad + "\n").encode("latin-1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + payload


def sevenzip_bytes(members: dict[str, bytes]) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def legacy_torch_tar(pickle_member: bytes) -> bytes:
    """torch.load's oldest format: a tar with sys_info, pickle, tensors, storages members."""
    empty_list = proto(2) + EMPTY_LIST + STOP
    return tar_bytes({"sys_info": legacy_sys_info(), "pickle": pickle_member, "tensors": empty_list,
                      "storages": proto(2) + binint(0) + STOP})


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zip_polyglot(evil: bytes) -> bytes:
    """A pickle at offset 0 with a valid zip appended: zipfile sees a zip, pickle.load the pickle."""
    return evil + zip_bytes({"notes.txt": b"nothing to see"})


# --------------------------------------------------------------------------- Keras


def keras_config(extra_layer: dict | None = None) -> dict:
    layers = [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "input"},
         "registered_name": None},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 2,
         "activation": {"module": "keras.activations", "class_name": "function", "config": "relu",
                        "registered_name": "relu"}}, "registered_name": None},
    ]
    if extra_layer is not None:
        layers.append(extra_layer)
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "sequential", "layers": layers},
            "registered_name": None, "build_config": {"input_shape": [None, 4]}}


def keras_lambda_layer() -> dict:
    # an opaque stand-in for marshalled bytecode: the check never decodes it
    code = base64.b64encode(b"not real bytecode, never decoded").decode()
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "evil_lambda", "function": {"class_name": "__lambda__", "config": {"code": code}},
                       "arguments": {}}}


def keras_archive(config: dict) -> bytes:
    return zip_bytes({
        "metadata.json": json.dumps({"keras_version": "3.5.0", "date_saved": "2024-01-01@00:00:00"}).encode(),
        "config.json": json.dumps(config).encode(),
        "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(56),
    }, zipfile.ZIP_DEFLATED)


def keras2_lambda_config() -> dict:
    """A Keras 2 (tf.keras) model_config with a Lambda layer, as stored in .h5 files."""
    code = base64.b64encode(b"not real bytecode, never decoded").decode()
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "in"}},
        {"class_name": "Lambda", "config": {"name": "lambda", "trainable": True, "dtype": "float32",
                                           "function": [code, None, None], "function_type": "lambda",
                                           "module": "__main__", "output_shape": None, "arguments": {}}},
    ]}}


def hdf5_like(model_config: dict, json_escape_keys: bool = False) -> bytes:
    """Bytes laid out the way an HDF5 file carries Keras' `model_config` attribute: the 8-byte
    signature, a version-0 superblock, then an attribute message whose name is "model_config"
    and whose value is the JSON string, verbatim (HDF5 never compresses attributes).

    This is not a valid HDF5 file (no B-tree, no heaps): it only reproduces what the check
    relies on, the JSON text sitting uncompressed in the raw bytes. `json_escape_keys` writes the
    keys with \\u escapes, which Keras' JSON parser accepts, to prove the search is not textual."""
    text = json.dumps(model_config)
    if json_escape_keys:
        text = text.replace('"class_name"', '"class\\u005fname"')
    superblock = b"\x89HDF\r\n\x1a\n" + bytes([0, 0, 0, 0, 0, 8, 8, 0]) + struct.pack("<HH", 4, 16) + bytes(4) \
        + struct.pack("<QQQQ", 0, 0xFFFFFFFFFFFFFFFF, 4096, 0xFFFFFFFFFFFFFFFF)
    value = text.encode()
    attribute = (struct.pack("<HH", 0x000C, 0) + b"\x01\x00" + struct.pack("<HHH", 13, 8, 8)
                 + b"model_config\x00\x00\x00\x00" + b"\x13\x00\x00\x00" + struct.pack("<I", len(value)) + value)
    body = superblock + bytes(96 - len(superblock)) + attribute
    weights = struct.pack("<64f", *([0.125] * 64))
    return body + bytes(-len(body) % 512) + weights


def memo_across_pickles(marker: Path) -> bytes:
    """Pickle #2 reads memo entries pickle #1 left: a fresh memo per pickle (pickle.load) fails on
    it, a loader reusing one Unpickler object imports os.system."""
    first = proto(4) + unicode("os") + MEMOIZE + unicode("system") + MEMOIZE + POP + POP + b"N" + STOP
    second = proto(4) + binget(0) + binget(1) + STACK_GLOBAL + unicode(shell(marker)) + TUPLE1 + REDUCE + STOP
    return first + second


def frame_confusion(marker: Path) -> bytes:
    """A FRAME that ends inside a BININT's argument. CPython's C unpickler reading from a file
    object (torch.load reads a zip's data.pkl through BytesIO) drops the rest of the frame and
    reads the int from the bytes after it; pickletools and picklescan read straight on. The
    linear view is a harmless SHORT_BINBYTES swallowing the payload; CPython runs the payload."""
    evil = POP + unicode("os") + unicode("system") + STACK_GLOBAL + unicode(shell(marker)) + TUPLE1 + REDUCE + STOP
    assert len(evil) < 256
    return (proto(4) + b"\x95" + struct.pack("<Q", 3) + b"JAB" + b"\x00\x00" + b"C" + bytes([len(evil)]) + evil
            + POP + POP + b"N" + STOP)


def raw_zip(entries: list[tuple[str, bytes]], *, bad_crc: bool = False, local_names: dict[str, str] | None = None) -> bytes:
    """A stored (uncompressed) zip written field by field, so its headers can disagree on
    purpose: a wrong CRC, or a local header whose name differs from the central directory's."""
    import zlib

    local, central = b"", b""
    for name, data in entries:
        crc = zlib.crc32(data) ^ (0xFFFFFFFF if bad_crc else 0)
        lname = (local_names or {}).get(name, name).encode()
        offset = len(local)
        local += b"PK\x03\x04" + struct.pack("<HHHHHIIIHH", 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(lname), 0) + lname + data
        central += (b"PK\x01\x02" + struct.pack("<HHHHHHIIIHHHHHII", 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                                                len(name.encode()), 0, 0, 0, 0, 0, offset) + name.encode())
    eocd = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(entries), len(entries), len(central), len(local), 0)
    return local + central + eocd


def directory_confusion(evil: bytes, benign: bytes) -> bytes:
    """Two zips back to back, each a torch checkpoint with archive/data.pkl of the same size.
    The second's end record says its directory is at offset len(local entries) from the file
    start: PyTorch's reader (miniz) goes there and finds the first zip's directory (the evil
    data.pkl); Python's zipfile finds the second directory by position and lists the benign one."""
    size = max(len(evil), len(benign))
    pad = lambda p: p + b"\x00" * (size - len(p))  # noqa: E731 - bytes after STOP are never read
    first = raw_zip([("archive/data.pkl", pad(evil)), ("archive/version", b"3\n")])
    second = raw_zip([("archive/data.pkl", pad(benign)), ("archive/version", b"3\n")])
    return first + second
