"""Turn a validated trial file's logic trees into evaluable nodes, once, at load time.

Compositions (``all``, ``any``, ``not``, ``at_least``) are compiled here; every other node is
compiled by the primitive registered under its key (``primitives.registry``).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from shared.eligibility import schema as s
from shared.eligibility.primitives.base import AllOf, AnyOf, AtLeast, Node, Not, Shared
from shared.eligibility.reference_tables import Tables


class Compiler:
    """Compiles criteria so that identical subtrees become one shared, memoised node."""

    def __init__(self, tables: Tables, logic: list[object]) -> None:
        self.tables = tables
        self.counts: dict[str, int] = {}
        for tree in logic:
            self._count(tree)
        self.built: dict[str, Node] = {}

    @staticmethod
    def _key(node: object) -> str:
        assert isinstance(node, BaseModel)
        return f"{type(node).__name__}:{node.model_dump_json(by_alias=True)}"

    def _count(self, node: object) -> None:
        key = self._key(node)
        self.counts[key] = self.counts.get(key, 0) + 1
        for child in _children(node):
            self._count(child)

    def criterion(self, node: object) -> Node:
        """``compile`` a criterion's logic; a top-level group (under ``not`` or a shared
        subtree too) remembers each child's result (``_Composite.remembers``), so incremental
        re-evaluation re-reads only the children whose inputs changed."""
        compiled = self.compile(node)
        top = compiled
        while isinstance(top, Shared | Not):
            top = top.node
        if isinstance(top, AllOf | AnyOf | AtLeast):
            top.remembers = True
        return compiled

    def compile(self, node: object) -> Node:
        key = self._key(node)
        if key in self.built:
            return self.built[key]
        compiled = _compile(node, self.tables, self.compile)
        if self.counts.get(key, 0) > 1:
            compiled = Shared(compiled)
        self.built[key] = compiled
        return compiled


def _children(node: object) -> list[object]:
    match node:
        case s.AllNode(all=children) | s.AnyNode(any=children):
            return list(children)
        case s.NotNode(not_=child):
            return [child]
        case s.AtLeastNode(at_least=a):
            return list(a.of)
    return []


def _compile(node: object, tables: Tables, sub: Callable[[object], Node]) -> Node:
    match node:
        case s.AllNode(all=children):
            return AllOf([sub(n) for n in children])
        case s.AnyNode(any=children):
            return AnyOf([sub(n) for n in children])
        case s.NotNode(not_=child):
            return Not(sub(child))
        case s.AtLeastNode(at_least=a):
            return AtLeast(a.n, [sub(n) for n in a.of])
    spec = s.LEAF_NODES.get(type(node)) if isinstance(node, BaseModel) else None
    if spec is None or not isinstance(node, BaseModel):
        raise TypeError(f"unsupported node {type(node).__name__}")
    (args,) = (getattr(node, field) for field in type(node).model_fields)
    return spec.compile(args, tables)
