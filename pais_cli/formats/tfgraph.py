"""TensorFlow graphs read as data: every node of the main graph and of every function in the
library, with its op and its short string attributes. Works on a SavedModel (`saved_model.pb`)
and on a bare GraphDef (a frozen `.pb`).

Field numbers are those of TensorFlow's published protos (tensorflow/core/...):
  protobuf/saved_model.proto  SavedModel    saved_model_schema_version=1 meta_graphs=2
  protobuf/meta_graph.proto   MetaGraphDef  graph_def=2 saver_def=3
  protobuf/saver.proto        SaverDef      filename_tensor_name=1 save_tensor_name=2 restore_op_name=3
  framework/graph.proto       GraphDef      node=1 library=2 version=3 versions=4
  framework/node_def.proto    NodeDef       name=1 op=2 input=3 device=4 attr=5 (map<string, AttrValue>)
  framework/function.proto    FunctionDefLibrary function=1
                              FunctionDef   signature=1 (OpDef: name=1) node_def=3
  framework/attr_value.proto  AttrValue     list=1 s=2 func=10 (NameAttrList: name=1)
A map field is a repeated entry message with key=1 and value=2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .protowire import LEN, Budget, ProtoError, ProtoLimit, Span, fields, message, opened, text

__all__ = ["Budget", "ProtoError", "ProtoLimit", "TfNode", "TfGraph", "read_graph", "parse_saved_model", "parse_graph_def"]


@dataclass
class TfNode:
    function: str  # "" for the main graph, else the FunctionDef's name
    name: str
    op: str
    strings: dict[str, str] = field(default_factory=dict)  # string attributes (first 1 KiB of each)


@dataclass
class TfGraph:
    nodes: list[TfNode] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    saver_scopes: set[str] = field(default_factory=set)  # TF1 Saver: the scope of restore_op_name
    meta_graphs: int = 0
    fields_read: int = 0


class _Reader:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.graph = TfGraph()

    def saved_model(self, msg: Span) -> None:
        for number, wire, value in fields(msg, self.budget):
            if number == 2 and wire == LEN:
                self.graph.meta_graphs += 1
                self.meta_graph(message(value))

    def meta_graph(self, msg: Span) -> None:
        for number, wire, value in fields(msg, self.budget, 1):
            if number == 2 and wire == LEN:
                self.graph_def(message(value), 2)
            elif number == 3 and wire == LEN:
                for n, w, v in fields(message(value), self.budget, 2):
                    if n == 3 and w == LEN and "/" in (op := text(v, 512)):
                        self.graph.saver_scopes.add(op.rsplit("/", 1)[0] + "/")

    def graph_def(self, msg: Span, depth: int) -> None:
        for number, wire, value in fields(msg, self.budget, depth):
            if number == 1 and wire == LEN:
                self.node(message(value), "", depth + 1)
            elif number == 2 and wire == LEN:
                for n, w, v in fields(message(value), self.budget, depth + 1):
                    if n == 1 and w == LEN:
                        self.function(message(v), depth + 2)

    def function(self, msg: Span, depth: int) -> None:
        name = ""
        nodes: list[Span] = []
        for number, wire, value in fields(msg, self.budget, depth):
            if number == 1 and wire == LEN:
                for n, w, v in fields(message(value), self.budget, depth + 1):
                    if n == 1 and w == LEN:
                        name = text(v, 512)
            elif number == 3 and wire == LEN:
                nodes.append(message(value))
        self.graph.functions.append(name)
        for node in nodes:
            self.node(node, name or "<unnamed function>", depth + 1)

    def node(self, msg: Span, function: str, depth: int) -> None:
        node = TfNode(function, "", "")
        for number, wire, value in fields(msg, self.budget, depth):
            if wire != LEN:
                continue
            if number == 1:
                node.name = text(value, 512)
            elif number == 2:
                node.op = text(value, 256)
            elif number == 5:
                key, strings = "", []
                for n, w, v in fields(message(value), self.budget, depth + 1):
                    if n == 1 and w == LEN:
                        key = text(v, 256)
                    elif n == 2 and w == LEN:
                        strings.extend(self.attr_strings(message(v), depth + 2))
                if strings:
                    node.strings[key] = "\n".join(strings)
        self.graph.nodes.append(node)

    def attr_strings(self, msg: Span, depth: int) -> Iterator[str]:
        for number, wire, value in fields(msg, self.budget, depth):
            if wire != LEN:
                continue
            if number == 2:
                yield text(value, 1024)
            elif number == 1:  # ListValue: s=2
                for n, w, v in fields(message(value), self.budget, depth + 1):
                    if n == 2 and w == LEN:
                        yield text(v, 1024)


def parse_saved_model(msg: Span, budget: Budget) -> TfGraph:
    reader = _Reader(budget)
    reader.saved_model(msg)
    reader.graph.fields_read = budget.used
    return reader.graph


def parse_graph_def(msg: Span, budget: Budget) -> TfGraph:
    reader = _Reader(budget)
    reader.graph_def(msg, 0)
    reader.graph.fields_read = budget.used
    return reader.graph


def read_graph(path: Path, size: int, saved_model: bool, budget: Budget | None = None) -> TfGraph:
    """A SavedModel (saved_model.pb) or a GraphDef (frozen graph). Raises ProtoError for bytes
    that are not one, ProtoLimit when the budget ran out."""
    with opened(path, size) as msg:
        b = budget or Budget.for_size(size)
        return parse_saved_model(msg, b) if saved_model else parse_graph_def(msg, b)
