"""The node protocol every primitive implements, and the Kleene compositions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import partial

from shared.eligibility.context import Context, Trace
from shared.eligibility.logic import Truth, all_of, any_of, at_least

_UNKNOWN = Truth.UNKNOWN
_FALSE = Truth.FALSE


@dataclass(frozen=True, slots=True)
class Requirement:
    """One piece of data a node reads: for the published data dictionary."""

    concept: str
    how: str


class Node(ABC):
    @abstractmethod
    def evaluate(self, ctx: Context, trace: Trace) -> Truth: ...

    @abstractmethod
    def requirements(self) -> list[Requirement]: ...

    def children(self) -> tuple[Node, ...]:
        return ()


class _Composite(Node):
    __slots__ = ("nodes",)

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = tuple(nodes)

    def children(self) -> tuple[Node, ...]:
        return self.nodes

    def requirements(self) -> list[Requirement]:
        return [r for node in self.nodes for r in node.requirements()]


def settled(node: Node, ctx: Context, trace: Trace) -> Truth:
    """Evaluate ``node``; if it is decided, nothing it found missing can matter: forget it."""
    missing, gaps = len(trace.missing), len(trace.gaps)
    truth = node.evaluate(ctx, trace)
    if truth is not _UNKNOWN and (len(trace.missing) > missing or len(trace.gaps) > gaps):
        trace.forget(missing, gaps)
    return truth


def _settled_all(nodes: tuple[Node, ...], ctx: Context, trace: Trace) -> list[Truth]:
    """``settled`` for each node, inlined: compositions are the engine's innermost loop."""
    truths = []
    missing_list, gap_list = trace.missing, trace.gaps
    for node in nodes:
        missing, gaps = len(missing_list), len(gap_list)
        truth = node.evaluate(ctx, trace)
        if truth is not _UNKNOWN and (len(missing_list) > missing or len(gap_list) > gaps):
            trace.forget(missing, gaps)
        truths.append(truth)
    return truths


class AllOf(_Composite):
    """Every child is evaluated (no short-circuit) so the trace names all missing data at once
    and every concept read is a dependency. Once a child is FALSE the conjunction is FALSE:
    what the children after it find is read (dependencies, review instants) but not said, so
    the reasoning never cites a limit that does not apply (I6.2: without Gilbert syndrome on
    record, the bilirubin limit of 3 x ULN for Gilbert syndrome is not stated)."""

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        nodes = self.nodes
        truths = []
        missing_list, gap_list = trace.missing, trace.gaps
        for position, node in enumerate(nodes):
            missing, gaps = len(missing_list), len(gap_list)
            truth = node.evaluate(ctx, trace)
            if truth is not _UNKNOWN and (len(missing_list) > missing or len(gap_list) > gaps):
                trace.forget(missing, gaps)
            if truth is _FALSE:
                if position + 1 < len(nodes):
                    _settled_all(nodes[position + 1:], ctx, Trace())  # read, not said
                return truth
            truths.append(truth)
        return all_of(truths)


class AnyOf(_Composite):
    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        return any_of(_settled_all(self.nodes, ctx, trace))


class AtLeast(_Composite):
    __slots__ = ("n",)

    def __init__(self, n: int, nodes: list[Node]) -> None:
        super().__init__(nodes)
        self.n = n

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        return at_least(self.n, _settled_all(self.nodes, ctx, trace))


class Not(Node):
    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    def children(self) -> tuple[Node, ...]:
        return (self.node,)

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        return ~self.node.evaluate(ctx, trace)

    def requirements(self) -> list[Requirement]:
        return self.node.requirements()


class Shared(Node):
    """A subtree used by several criteria (or twice in one): evaluated once per evaluation.

    I6 is the conjunction of I6.1-I6.3 and several facts (sex, childbearing potential, the hCG
    test) are read by more than one criterion; the first evaluation's truth and trace are
    replayed for the others.
    """

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    def children(self) -> tuple[Node, ...]:
        return (self.node,)

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        truth: Truth = ctx.remember(self, trace, partial(self.node.evaluate, ctx))
        return truth

    def requirements(self) -> list[Requirement]:
        return self.node.requirements()
