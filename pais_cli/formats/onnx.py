"""ONNX models read as data: operator domains and external-data references, nothing else.

Field numbers are those of onnx/onnx.proto (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto):
  ModelProto         opset_import=8 graph=7 training_info=20 functions=25
  OperatorSetIdProto domain=1
  GraphProto         node=1 initializer=5 sparse_initializer=15
  NodeProto          op_type=4 domain=7 attribute=5
  AttributeProto     t=5 g=6 tensors=10 graphs=11 sparse_tensor=22 sparse_tensors=23
  TensorProto        name=8 external_data=13 data_location=14 (EXTERNAL=1)
  SparseTensorProto  values=1 indices=2
  StringStringEntryProto key=1 value=2
  FunctionProto      node=7 opset_import=9 domain=10
  TrainingInfoProto  initialization=1 algorithm=2
Subgraphs (If/Loop/Scan bodies, attribute graphs) and functions are walked too: an operator or
tensor hidden there loads as surely as one in the main graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .protowire import LEN, Budget, ProtoError, ProtoLimit, Span, fields, message, opened, text

__all__ = ["OnnxInfo", "ProtoError", "ProtoLimit", "read_onnx", "parse_onnx"]

MAX_KEPT = 1000  # operators and tensors kept per kind: enough to report, bounded for hostile files


@dataclass
class ExternalTensor:
    name: str
    location: str | None  # the `location` key of external_data; None when missing


@dataclass
class OnnxInfo:
    opset_domains: set[str] = field(default_factory=set)
    operators: dict[tuple[str, str], int] = field(default_factory=dict)  # (domain, op_type) -> count
    external: list[ExternalTensor] = field(default_factory=list)
    graphs: int = 0
    fields_read: int = 0


class _Reader:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.info = OnnxInfo()

    def model(self, msg: Span) -> None:
        for number, wire, value in fields(msg, self.budget):
            if wire != LEN:
                continue
            if number == 8:
                self.opset(message(value), 1)
            elif number == 7:
                self.graph(message(value), 1)
            elif number == 20:
                for n, w, v in fields(message(value), self.budget, 1):
                    if n in (1, 2) and w == LEN:
                        self.graph(message(v), 2)
            elif number == 25:
                self.function(message(value), 1)

    def opset(self, msg: Span, depth: int) -> None:
        domain = ""
        for number, wire, value in fields(msg, self.budget, depth):
            if number == 1 and wire == LEN:
                domain = text(value)
        self.info.opset_domains.add(domain)

    def function(self, msg: Span, depth: int) -> None:
        for number, wire, value in fields(msg, self.budget, depth):
            if wire != LEN:
                continue
            if number == 7:
                self.node(message(value), depth + 1)
            elif number == 9:
                self.opset(message(value), depth + 1)

    def graph(self, msg: Span, depth: int) -> None:
        self.info.graphs += 1
        for number, wire, value in fields(msg, self.budget, depth):
            if wire != LEN:
                continue
            if number == 1:
                self.node(message(value), depth + 1)
            elif number == 5:
                self.tensor(message(value), depth + 1)
            elif number == 15:
                self.sparse(message(value), depth + 1)

    def node(self, msg: Span, depth: int) -> None:
        op, domain = "", ""
        for number, wire, value in fields(msg, self.budget, depth):
            if wire != LEN:
                continue
            if number == 4:
                op = text(value, 256)
            elif number == 7:
                domain = text(value, 256)
            elif number == 5:
                self.attribute(message(value), depth + 1)
        key = (domain, op)
        if key in self.info.operators or len(self.info.operators) < MAX_KEPT:
            self.info.operators[key] = self.info.operators.get(key, 0) + 1

    def attribute(self, msg: Span, depth: int) -> None:
        for number, wire, value in fields(msg, self.budget, depth):
            if wire != LEN:
                continue
            if number in (6, 11):
                self.graph(message(value), depth + 1)
            elif number in (5, 10):
                self.tensor(message(value), depth + 1)
            elif number in (22, 23):
                self.sparse(message(value), depth + 1)

    def sparse(self, msg: Span, depth: int) -> None:
        for number, wire, value in fields(msg, self.budget, depth):
            if number in (1, 2) and wire == LEN:
                self.tensor(message(value), depth + 1)

    def tensor(self, msg: Span, depth: int) -> None:
        name, external, location = "", False, None
        for number, wire, value in fields(msg, self.budget, depth):
            if number == 8 and wire == LEN:
                name = text(value, 512)
            elif number == 14 and not isinstance(value, Span):
                external = value == 1
            elif number == 13 and wire == LEN:
                key, val = "", ""
                for n, w, v in fields(message(value), self.budget, depth + 1):
                    if n == 1 and w == LEN:
                        key = text(v, 256)
                    elif n == 2 and w == LEN:
                        val = text(v, 8192)
                if key == "location":
                    location = val
        if external and len(self.info.external) < MAX_KEPT * 100:
            self.info.external.append(ExternalTensor(name, location))


def parse_onnx(msg: Span, budget: Budget) -> OnnxInfo:
    reader = _Reader(budget)
    try:
        reader.model(msg)
    finally:
        reader.info.fields_read = budget.used
    return reader.info


def read_onnx(path: Path, size: int, budget: Budget | None = None) -> OnnxInfo:
    """Raises ProtoError for bytes that are not an ONNX model, ProtoLimit when a budget ran out."""
    with opened(path, size) as msg:
        return parse_onnx(msg, budget or Budget.for_size(size))
