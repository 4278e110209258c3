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
    __slots__ = ("nodes", "remembers")

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = tuple(nodes)
        self.remembers = False
        """Whether each child is remembered (``Context.remember``, only when the evaluation
        keeps its state): set on a criterion's top-level group (``Compiler.criterion``), so
        a new result re-evaluates only the children that read it (I2's score, not its biopsy
        and drug branches)."""

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


def _remembered(node: Node, ctx: Context, trace: Trace) -> Truth:
    """``node.evaluate``, remembered with what it read (a shared subtree remembers itself)."""
    if type(node) is Shared:
        return node.evaluate(ctx, trace)
    truth: Truth = ctx.remember(node, trace, partial(node.evaluate, ctx))
    return truth


def _settled_all(
    nodes: tuple[Node, ...], ctx: Context, trace: Trace, remembers: bool = False
) -> list[Truth]:
    """``settled`` for each node, inlined: compositions are the engine's innermost loop.

    With ``remembers``, each node is evaluated through ``_remembered``."""
    truths = []
    missing_list, gap_list = trace.missing, trace.gaps
    for node in nodes:
        missing, gaps = len(missing_list), len(gap_list)
        truth = _remembered(node, ctx, trace) if remembers else node.evaluate(ctx, trace)
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
        remembers = self.remembers and ctx.keep
        truths = []
        missing_list, gap_list = trace.missing, trace.gaps
        for position, node in enumerate(nodes):
            missing, gaps = len(missing_list), len(gap_list)
            truth = _remembered(node, ctx, trace) if remembers else node.evaluate(ctx, trace)
            if truth is not _UNKNOWN and (len(missing_list) > missing or len(gap_list) > gaps):
                trace.forget(missing, gaps)
            if truth is _FALSE:
                if position + 1 < len(nodes):
                    # read, not said
                    _settled_all(nodes[position + 1:], ctx, Trace(), remembers)
                return truth
            truths.append(truth)
        return all_of(truths)


class AnyOf(_Composite):
    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        return any_of(_settled_all(self.nodes, ctx, trace, self.remembers and ctx.keep))


class AtLeast(_Composite):
    __slots__ = ("n",)

    def __init__(self, n: int, nodes: list[Node]) -> None:
        super().__init__(nodes)
        self.n = n

    def evaluate(self, ctx: Context, trace: Trace) -> Truth:
        return at_least(self.n, _settled_all(self.nodes, ctx, trace, self.remembers and ctx.keep))


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
