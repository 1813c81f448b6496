"""Pure graph passes: each takes a `ModelProto` and returns a new one (the input is never changed).

`standard(model)` is the chain every exported graph goes through:
name nodes by module path -> strip metadata -> check -> infer shapes -> onnxslim -> strip -> check.
"""

from __future__ import annotations

import ast
from collections import Counter

SCOPES_KEY = "pkg.torch.onnx.name_scopes"


def _copy(model):
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def check(model):
    """onnx.checker (full check, with shape inference errors as failures); returns the model unchanged."""
    import onnx

    onnx.checker.check_model(model, full_check=True)
    return model


def infer_shapes(model):
    import onnx

    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


def name_nodes(model):
    """Name every node after the module it came from (`encoder.1.0/Conv`), from the exporter's scopes.

    Nodes without scope information keep their name. Names are made unique with a `_k` suffix, in
    graph order, so the result is deterministic.
    """
    model = _copy(model)
    seen: Counter[str] = Counter()
    for node in model.graph.node:
        scopes = _scopes(node)
        if scopes is None:
            continue
        path = ".".join(s for s in scopes[:-1] if s)  # the last scope is the aten op itself
        parts = [p for p in path.split(".") if p]
        base = f"{'.'.join(parts)}/{node.op_type}" if parts else node.op_type
        seen[base] += 1
        node.name = base if seen[base] == 1 else f"{base}_{seen[base] - 1}"
    return model


def _scopes(node) -> list[str] | None:
    for prop in node.metadata_props:
        if prop.key == SCOPES_KEY:
            try:
                scopes = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                return None
            if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes):
                # scopes are cumulative paths ("", "encoder.0", "encoder.0.1", op): keep the deepest module
                modules = [s for s in scopes[:-1] if s]
                return [modules[-1] if modules else "", scopes[-1]]
    return None


def strip_metadata(model):
    """Remove doc strings and metadata (stack traces with absolute paths, exporter bookkeeping)."""
    model = _copy(model)
    model.doc_string = ""
    del model.metadata_props[:]
    graphs = [model.graph]
    while graphs:
        g = graphs.pop()
        g.doc_string = ""
        del g.metadata_props[:]
        for node in g.node:
            node.doc_string = ""
            del node.metadata_props[:]
            for attr in node.attribute:
                if attr.g.node:
                    graphs.append(attr.g)
                graphs.extend(attr.graphs)
        for vi in (*g.input, *g.output, *g.value_info):
            vi.doc_string = ""
            del vi.metadata_props[:]
        for init in g.initializer:
            init.doc_string = ""
            del init.metadata_props[:]
    for fn in model.functions:
        fn.doc_string = ""
        del fn.metadata_props[:]
    return model


def slim(model):
    """onnxslim: constant folding, dead-code removal, pattern fusions (no file I/O, no model check)."""
    import onnxslim

    return onnxslim.slim(_copy(model), no_shape_infer=False)


def standard(model):
    """The chain every exported graph goes through before precision conversion."""
    model = strip_metadata(name_nodes(model))
    model = infer_shapes(check(model))
    model = strip_metadata(slim(model))
    return infer_shapes(check(model))


def op_counts(model) -> dict[str, int]:
    return dict(sorted(Counter(n.op_type for n in model.graph.node).items()))


def toposort(model):
    """Order nodes so every input is produced before it is read (stable: keeps the order where it can)."""
    model = _copy(model)
    g = model.graph
    ready = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    pending = list(g.node)
    ordered = []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"graph has a cycle or a dangling input at node {rest[0].name!r}")
        pending = rest
    nodes = [type(n)() for n in ordered]
    for new, old in zip(nodes, ordered):
        new.CopyFrom(old)
    del g.node[:]
    g.node.extend(nodes)
    return model
