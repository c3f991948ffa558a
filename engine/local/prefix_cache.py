"""PrefixCache: the KV of prompts already computed, kept in a radix tree for reuse.

Owns prompt caching (SGLang's RadixAttention, at token granularity): every edge of the
tree is a run of token ids with the keys and values of those positions, [layers, K, n, E]
each. A prompt walks down from the root as far as its tokens agree with the tree; those
positions' KV is copied into the prompt's cache row and only the rest is prefilled. The
prefilled prompt (and, when rows finish, their whole sequence) is inserted back, so later
requests, rounds, roles, queries and chat turns find it.

Why a token-level tree rather than hashed blocks (vLLM / nano-vllm): the engine's batch
cache is one contiguous row per sample, not a pool of pages, so blocks would buy nothing
in the attention kernel and cost the unaligned tail of every match (up to block - 1
tokens: most of a short arithmetic prompt, and the first tokens that differ between two
roles' prompts); the tree matches exactly where prompts diverge and stores each shared
run once.

Reference counts: a job holds a lease on the deepest node its prompt reached from its
admission until it completes, which counts on that node and every ancestor; only leaves
with no lease are evicted (least recently used first) when the cache is over its cap in
bytes. Leased data may hold the cache over its cap until released. Used from the worker
thread only.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import numpy as np

from .model import KVCache

__all__ = ["DEFAULT_PREFIX_CACHE_BYTES", "PrefixCache", "CacheNode"]

DEFAULT_PREFIX_CACHE_BYTES = 1 << 30  # 1 GiB: ~23k tokens of SmolLM2-135M, ~130k of a 40M model


@dataclass(eq=False)
class CacheNode:
    """One edge of the tree: token ids and the KV of those positions."""

    tokens: np.ndarray  # [n] int64
    k: np.ndarray  # [layers, K, n, E]
    v: np.ndarray
    parent: CacheNode | None
    children: dict[int, CacheNode] = field(default_factory=dict)
    refs: int = 0  # leases on this node or below it
    last_used: int = 0

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes


class PrefixCache:
    """A radix tree of cached prompt KV with a byte cap and LRU eviction."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        empty = np.zeros(0, dtype=np.int64)
        self.root = CacheNode(empty, np.zeros(0), np.zeros(0), parent=None)
        self.nbytes = 0  # KV bytes held by all nodes
        self.hit_tokens = 0  # prompt positions served from the cache, since creation
        self.evicted_tokens = 0
        self._clock = itertools.count(1)

    # -- lookup -----------------------------------------------------------------------------
    def match(self, tokens: np.ndarray, limit: int) -> tuple[CacheNode, int]:
        """The deepest node on the longest cached prefix of tokens[:limit], and its length.

        A match ending inside an edge splits it there, so the returned node covers exactly
        the matched positions (a lease on it then pins only what is used).
        """
        node, at = self.root, 0
        tick = next(self._clock)
        while at < limit:
            child = node.children.get(int(tokens[at]))
            if child is None:
                break
            span = min(len(child.tokens), limit - at)
            differ = np.flatnonzero(child.tokens[:span] != tokens[at : at + span])
            common = int(differ[0]) if differ.size else span
            whole = common == len(child.tokens)
            if not whole:
                child = self._split(child, common)
            child.last_used = tick
            node, at = child, at + common
            if not whole:
                break
        return node, at

    def load(self, node: CacheNode, cache: KVCache, row: int) -> None:
        """Copy the KV of the path root -> node into positions [0, depth) of a cache row."""
        path = self._path(node)
        at = 0
        for n in path:
            m = len(n.tokens)
            cache.k[:, row, :, at : at + m] = n.k
            cache.v[:, row, :, at : at + m] = n.v
            at += m

    # -- insertion --------------------------------------------------------------------------
    def insert(self, tokens: np.ndarray, cache: KVCache, row: int) -> CacheNode:
        """Keep the KV of `tokens` (positions [0, len) of a cache row); the deepest node.

        What the tree already holds is matched, not copied again; the rest becomes a new
        leaf, unless it alone is larger than the cap (then the match is returned). Nothing
        is evicted here, so the new node can be leased first; call evict() after.
        """
        node, at = self.match(tokens, len(tokens))
        if at == len(tokens):
            return node
        k = np.ascontiguousarray(cache.k[:, row, :, at : len(tokens)])
        v = np.ascontiguousarray(cache.v[:, row, :, at : len(tokens)])
        if k.nbytes + v.nbytes > self.max_bytes:
            return node
        leaf = CacheNode(tokens[at:].copy(), k, v, parent=node, last_used=next(self._clock))
        node.children[int(tokens[at])] = leaf
        self.nbytes += leaf.nbytes
        return leaf  # the caller leases it or calls evict(): it may be what goes first

    # -- leases -----------------------------------------------------------------------------
    def lock(self, node: CacheNode) -> None:
        """Pin node and its ancestors: nothing on the path is evicted until unlock."""
        while node is not self.root and node is not None:
            node.refs += 1
            node = node.parent  # type: ignore[assignment]

    def unlock(self, node: CacheNode) -> None:
        while node is not self.root and node is not None:
            node.refs -= 1
            node = node.parent  # type: ignore[assignment]
        self.evict()

    # -- eviction ---------------------------------------------------------------------------
    def evict(self) -> None:
        """Drop least recently used unleased leaves until the cache fits its cap."""
        if self.nbytes <= self.max_bytes:
            return
        heap = [(n.last_used, id(n), n) for n in self.nodes() if not n.children and not n.refs]
        heapq.heapify(heap)
        while self.nbytes > self.max_bytes and heap:
            _, _, node = heapq.heappop(heap)
            parent = node.parent
            assert parent is not None
            del parent.children[int(node.tokens[0])]
            self.nbytes -= node.nbytes
            self.evicted_tokens += len(node.tokens)
            if parent is not self.root and not parent.children and not parent.refs:
                heapq.heappush(heap, (parent.last_used, id(parent), parent))

    def clear(self) -> None:
        """Forget every unleased entry."""
        cap, self.max_bytes = self.max_bytes, 0
        self.evict()
        self.max_bytes = cap

    # -- inspection -------------------------------------------------------------------------
    def nodes(self) -> list[CacheNode]:
        """Every node but the root, parents before children."""
        out, todo = [], list(self.root.children.values())
        while todo:
            node = todo.pop()
            out.append(node)
            todo.extend(node.children.values())
        return out

    @property
    def cached_tokens(self) -> int:
        """Positions whose KV the tree holds (each shared run counted once)."""
        return sum(len(n.tokens) for n in self.nodes())

    def check(self) -> None:
        """Assert the invariants (tests): byte total, edge keys, counts, cap when unleased."""
        nodes = self.nodes()
        assert self.nbytes == sum(n.nbytes for n in nodes), "byte total drifted"
        for n in nodes:
            assert n.parent is not None and n.parent.children[int(n.tokens[0])] is n
            assert n.k.shape[2] == len(n.tokens) == n.v.shape[2] > 0
            assert n.refs >= sum(c.refs for c in n.children.values()) >= 0
        if not any(n.refs for n in nodes):
            assert self.nbytes <= self.max_bytes, "over the cap with nothing leased"

    # -- internals --------------------------------------------------------------------------
    def _path(self, node: CacheNode) -> list[CacheNode]:
        path = []
        while node is not self.root:
            path.append(node)
            node = node.parent  # type: ignore[assignment]
        return path[::-1]

    def _split(self, node: CacheNode, at: int) -> CacheNode:
        """Cut node's edge after `at` tokens; the new upper node (copies, so each half
        frees its own memory when evicted)."""
        parent = node.parent
        assert parent is not None and 0 < at < len(node.tokens)
        upper = CacheNode(
            node.tokens[:at].copy(),
            np.ascontiguousarray(node.k[:, :, :at]),
            np.ascontiguousarray(node.v[:, :, :at]),
            parent=parent,
            refs=node.refs,  # every lease through the lower half passes through it
            last_used=node.last_used,
        )
        node.tokens = node.tokens[at:].copy()
        node.k = np.ascontiguousarray(node.k[:, :, at:])
        node.v = np.ascontiguousarray(node.v[:, :, at:])
        node.parent = upper
        upper.children[int(node.tokens[0])] = node
        parent.children[int(upper.tokens[0])] = upper
        return upper
