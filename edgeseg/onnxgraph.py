"""What an ONNX file says about itself, read from its protobuf bytes (no onnx package: the runtime has none).

Enough to bind a manifest entry to its graph: the graph's inputs and outputs (name, dtype, shape), the
default-domain opset, the op types (Q/DQ means int8), the dtypes of its weights, its metadata
(`metadata_props`), and every tensor whose data lives outside the file (external data).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import IntegrityError

# onnx.TensorProto.DataType -> numpy dtype name
DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
          10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}
QUANTIZE_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
MAX_NESTING = 16  # subgraphs inside If/Loop attributes


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str
    shape: tuple[int | str | None, ...]  # str: a named dynamic axis; None: unnamed


@dataclass(frozen=True)
class Graph:
    inputs: tuple[Tensor, ...]  # initializers listed as inputs (old IR versions) are left out
    outputs: tuple[Tensor, ...]
    opset: int | None
    ops: frozenset[str]
    weight_dtypes: frozenset[str]
    metadata: dict[str, str]
    external: tuple[str, ...]  # names of tensors stored in external data

    @property
    def quantized(self) -> bool:
        return bool(self.ops & QUANTIZE_OPS)


class _Bad(Exception):
    pass


def read(data: bytes, where: str = "ONNX file") -> Graph:
    """Parse a ModelProto's bytes; a file that is not one is an IntegrityError naming `where`."""
    try:
        return _model(memoryview(data))
    except (_Bad, UnicodeDecodeError, IndexError) as exc:
        raise IntegrityError(f"{where} is not a readable ONNX model ({exc or 'truncated'})") from None


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if shift > 63:
            raise _Bad("varint too long")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(buf: memoryview):
    """(field number, wire type, value) for each field of one message: varints as int, the rest as bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, i = buf[i : i + width], i + width
        else:
            raise _Bad(f"wire type {wire}")
        if i > n:
            raise _Bad("truncated")
        yield number, wire, value


def _text(value) -> str:
    return bytes(value).decode("utf-8")


class _Walk:
    def __init__(self):
        self.ops: set[str] = set()
        self.weight_dtypes: set[str] = set()
        self.external: list[str] = []

    def graph(self, buf, depth: int) -> tuple[list[Tensor], list[Tensor], set[str]]:
        if depth > MAX_NESTING:
            raise _Bad("subgraphs nested too deeply")
        inputs, outputs, initializers = [], [], set()
        for number, wire, value in _fields(buf):
            if wire != 2:
                continue
            if number == 1:
                self.node(value, depth)
            elif number == 5:
                initializers.add(self.tensor(value, weight=True))
            elif number == 15:
                for sub, _, part in _fields(value):
                    if sub in (1, 2):
                        initializers.add(self.tensor(part, weight=True))
            elif number == 11:
                inputs.append(_value_info(value))
            elif number == 12:
                outputs.append(_value_info(value))
        return inputs, outputs, initializers

    def node(self, buf, depth: int) -> None:
        for number, wire, value in _fields(buf):
            if number == 4 and wire == 2:
                self.ops.add(_text(value))
            elif number == 5 and wire == 2:
                self.attribute(value, depth)

    def attribute(self, buf, depth: int) -> None:
        for number, wire, value in _fields(buf):
            if wire != 2:
                continue
            if number in (5, 10):  # t, tensors
                self.tensor(value)
            elif number in (6, 11):  # g, graphs
                self.graph(value, depth + 1)
            elif number in (22, 23):  # sparse_tensor(s)
                for sub, _, part in _fields(value):
                    if sub in (1, 2):
                        self.tensor(part)

    def tensor(self, buf, weight: bool = False) -> str:
        name, dtype, external = "", 0, False
        for number, wire, value in _fields(buf):
            if number == 8 and wire == 2:
                name = _text(value)
            elif number == 2 and wire == 0:
                dtype = value
            elif (number == 14 and wire == 0 and value == 1) or (number == 13 and wire == 2):
                external = True
        if external:
            self.external.append(name or "(unnamed)")
        if weight:
            self.weight_dtypes.add(DTYPES.get(dtype, f"type {dtype}"))
        return name


def _value_info(buf) -> Tensor:
    name, dtype, shape = "", 0, []
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 2:
            name = _text(value)
        elif number == 2 and wire == 2:
            for t, _, tensor_type in _fields(value):
                if t != 1:
                    continue
                for k, kwire, v in _fields(tensor_type):
                    if k == 1 and kwire == 0:
                        dtype = v
                    elif k == 2 and kwire == 2:
                        shape = [_dim(d) for n, _, d in _fields(v) if n == 1]
    return Tensor(name, DTYPES.get(dtype, f"type {dtype}"), tuple(shape))


def _dim(buf) -> int | str | None:
    for number, wire, value in _fields(buf):
        if number == 1 and wire == 0:
            return value
        if number == 2 and wire == 2:
            return _text(value)
    return None


def _model(buf: memoryview) -> Graph:
    walk = _Walk()
    opset, metadata, found = None, {}, None
    for number, wire, value in _fields(buf):
        if number == 7 and wire == 2:
            found = walk.graph(value, 0)
        elif number == 8 and wire == 2:
            parts = {n: v for n, _, v in _fields(value)}
            if _text(parts.get(1, b"")) in ("", "ai.onnx") and isinstance(parts.get(2), int):
                opset = parts[2]
        elif number == 14 and wire == 2:
            parts = {n: v for n, _, v in _fields(value)}
            metadata[_text(parts.get(1, b""))] = _text(parts.get(2, b""))
    if found is None:
        raise _Bad("no graph")
    inputs, outputs, initializers = found
    return Graph(
        inputs=tuple(t for t in inputs if t.name not in initializers),
        outputs=tuple(outputs),
        opset=opset,
        ops=frozenset(walk.ops),
        weight_dtypes=frozenset(walk.weight_dtypes),
        metadata=metadata,
        external=tuple(walk.external),
    )
