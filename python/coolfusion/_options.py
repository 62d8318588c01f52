"""Checks the Python API's arguments and builds the dicts that the extension takes.

Every mistake is raised here, naming the argument: TypeError for a value of the wrong type,
ValueError for one out of range. What only the engine can judge (a prompt too long for a
context, a grammar these vocabularies cannot follow) is raised by the engine with its own
message (coolfusion._core).
"""

from __future__ import annotations

import json
import math
import operator
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _core

SCORE_RULES = ("auto", "mean", "geomean", "sweetspan", "median")
ROLES = ("system", "user", "assistant")
_PEER = {  # peer= keys: (kind, low, high)
    "gate": (float, 0.0, 1.0),
    "unite_top_k": (int, 1, 1000),
    "adafuse_margin": (float, 0.0, 1.0),
    "adafuse_words": (int, 1, 1 << 20),
    "adafuse_beams": (int, 1, 1 << 20),
    "safe_draft_tokens": (int, 1, 256),
}


def _type_name(v: Any) -> str:
    return type(v).__name__


def check_int(name: str, v: Any, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {_type_name(v)}") from None
    if (lo is not None and i < lo) or (hi is not None and i > hi):
        if hi is None:
            raise ValueError(f"{name} must be >= {lo}, got {i}")
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {i}")
    return i


def check_real(name: str, v: Any, lo: float, hi: float = math.inf, *,
               lo_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
        raise TypeError(f"{name} must be a number, got {_type_name(v)}")
    x = float(v)
    if math.isnan(x) or x < lo or (lo_open and x == lo) or x > hi or math.isinf(x):
        low = f"({lo}" if lo_open else f"[{lo}"
        high = "inf)" if hi == math.inf else f"{hi}]"
        raise ValueError(f"{name} must be a finite number in {low}, {high}, got {v!r}")
    return x


def check_bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be True or False, got {_type_name(v)}")
    return v


def check_str(name: str, v: Any, *, nonempty: bool = False) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a str, got {_type_name(v)}")
    if nonempty and not v:
        raise ValueError(f"{name} must not be empty")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate ("\udc80")
        raise ValueError(f"{name} is not valid text: {e.reason} at index {e.start}") from None
    return v


def check_strings(name: str, v: Any, *, nonempty_items: bool = True) -> List[str]:
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise TypeError(f"{name} must be a list of str, got {_type_name(v)}")
    out = []
    for i, s in enumerate(v):
        check_str(f"{name}[{i}]", s, nonempty=nonempty_items)
        out.append(s)
    return out


def model_dicts(paths: Any, *, n_ctx: Any, n_threads: Any, n_gpu_layers: Any, weights: Any,
                chat_template: Any, use_mmap: Any, flash_attn: Any,
                vocab_only: Any) -> List[Dict[str, Any]]:
    """The models' options for _core.Ensemble, one dict per path."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, Sequence):
        raise TypeError(f"paths must be a path or a list of paths, got {_type_name(paths)}")
    if not paths:
        raise ValueError("paths is empty: give at least one GGUF file")
    files = []
    for i, p in enumerate(paths):
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"paths[{i}] must be a str or os.PathLike, got {_type_name(p)}")
        p = os.fspath(p)
        if isinstance(p, bytes):
            raise TypeError(f"paths[{i}] must be a str path, got bytes")
        if not p:
            raise ValueError(f"paths[{i}] is empty")
        files.append(p)
    common = {
        "n_ctx": check_int("n_ctx", n_ctx, 0, 1 << 24),
        "n_threads": check_int("n_threads", n_threads, 0, 1024),
        "n_gpu_layers": check_int("n_gpu_layers", n_gpu_layers, -1, 100000),
        "use_mmap": check_bool("use_mmap", use_mmap),
        "vocab_only": check_bool("vocab_only", vocab_only),
    }
    if flash_attn is not None:
        common["flash_attn"] = 1 if check_bool("flash_attn", flash_attn) else 0
    if weights is None:
        weights = [1.0] * len(files)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(f"weights must be a list of numbers, got {_type_name(weights)}")
    if len(weights) != len(files):
        raise ValueError(f"weights has {len(weights)} numbers for {len(files)} models")
    if chat_template is None:
        templates: List[Optional[str]] = [None] * len(files)
    elif isinstance(chat_template, str):
        templates = [check_str("chat_template", chat_template, nonempty=True)] * len(files)
    else:
        templates = list(check_strings("chat_template", chat_template))
        if len(templates) != len(files):
            raise ValueError(f"chat_template has {len(templates)} templates for "
                             f"{len(files)} models (give one str for all)")
    out = []
    for i, path in enumerate(files):
        # as the file system's bytes: a name that is not UTF-8 still opens
        d = dict(common, path=os.fsencode(path),
                 weight=check_real(f"weights[{i}]", weights[i], 0.0))
        if templates[i] is not None:
            d["chat_template"] = templates[i]
        out.append(d)
    return out


def messages(v: Any) -> List[Tuple[str, str]]:
    """Chat messages as (role, content) pairs, from {"role": ..., "content": ...} dicts
    (OpenAI's form) or (role, content) pairs."""
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence):
        raise TypeError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, "
                        f"got {_type_name(v)}")
    if not v:
        raise ValueError("messages is empty")
    out = []
    for i, m in enumerate(v):
        if isinstance(m, Mapping):
            unknown = set(m) - {"role", "content"}
            if unknown:
                raise ValueError(f"messages[{i}] has unknown keys {sorted(unknown)!r}")
            if "role" not in m or "content" not in m:
                raise ValueError(f"messages[{i}] needs 'role' and 'content'")
            role, content = m["role"], m["content"]
        elif isinstance(m, Sequence) and not isinstance(m, (str, bytes)) and len(m) == 2:
            role, content = m
        else:
            raise TypeError(f"messages[{i}] must be a {{'role': ..., 'content': ...}} dict, "
                            f"got {_type_name(m)}")
        check_str(f"messages[{i}]['role']", role)
        if role not in ROLES:
            raise ValueError(f"messages[{i}]['role'] must be one of {', '.join(ROLES)}, "
                             f"got {role!r}")
        check_str(f"messages[{i}]['content']", content)
        out.append((role, content))
    return out


def prompt_or_messages(v: Any) -> Dict[str, Any]:
    """{"prompt": str} for a str, {"messages": [...]} for a list of messages."""
    if isinstance(v, str):
        return {"prompt": v}
    if isinstance(v, (bytes, bytearray)):
        raise TypeError("prompt must be a str, got bytes (decode it first)")
    if isinstance(v, Sequence):
        return {"messages": messages(v)}
    raise TypeError(f"prompt must be a str or a list of chat messages, got {_type_name(v)}")


def grammar_of(grammar: Any, json_schema: Any) -> Optional[str]:
    """The GBNF grammar to generate under: grammar= checked, json_schema= converted, both
    in the sandbox (a child process: no grammar can crash or stall this one)."""
    if grammar is not None and json_schema is not None:
        raise ValueError("give grammar or json_schema, not both")
    if grammar is not None:
        check_str("grammar", grammar, nonempty=True)
        _core.check_grammar(grammar)
        return grammar
    if json_schema is not None:
        if isinstance(json_schema, Mapping):
            try:
                json_schema = json.dumps(json_schema)
            except (TypeError, ValueError) as e:
                raise ValueError(f"json_schema is not JSON: {e}") from None
        elif not isinstance(json_schema, str):
            raise TypeError(f"json_schema must be a dict or a JSON str, got "
                            f"{_type_name(json_schema)}")
        return _core.json_schema_to_grammar(json_schema)
    return None


def _methods() -> Tuple[str, ...]:
    return tuple(_core.methods())


def options(n_models: int, o: Dict[str, Any]) -> Dict[str, Any]:
    """The request options for _core from the keyword arguments of generate(), chat(),
    stream() and score(): every one checked, None left out (the engine's default)."""
    d: Dict[str, Any] = {}
    v = o.pop("max_tokens", 128)
    if v is None:
        d["max_tokens"] = -1
    else:
        n = check_int("max_tokens", v)
        if n == 0 or n < -1 or n > 1 << 24:
            raise ValueError(f"max_tokens must be in [1, {1 << 24}], or -1 or None for no "
                             f"limit, got {n}")
        d["max_tokens"] = n
    v = o.pop("method", None)
    if v is not None:
        check_str("method", v)
        if v not in _methods():
            raise ValueError(f"method must be one of {', '.join(_methods())}, got {v!r}")
        d["method"] = v
    v = o.pop("score", None)
    if v is not None:
        check_str("score", v)
        if v not in SCORE_RULES:
            raise ValueError(f"score must be one of {', '.join(SCORE_RULES)}, got {v!r}")
        d["score"] = v
    v = o.pop("stop", None)
    if v is not None:
        d["stop"] = [check_str("stop", v, nonempty=True)] if isinstance(v, str) \
            else check_strings("stop", v)
    reals = {  # name: (low, high, low open)
        "temperature": (0.0, 100.0, False),
        "top_p": (0.0, 1.0, True),
        "min_p": (0.0, 1.0, False),
        "repeat_penalty": (0.0, 10.0, True),
        "frequency_penalty": (-2.0, 2.0, False),
        "presence_penalty": (-2.0, 2.0, False),
        "prompt_temp": (0.0, math.inf, True),
        "sit_out": (0.0, 1.0, False),
        "prompt_evidence": (0.0, 1000.0, False),
        "sweetspan_ratio": (1.0, math.inf, False),
    }
    for name, (lo, hi, lo_open) in reals.items():
        if name in o:
            d[name] = check_real(name, o.pop(name), lo, hi, lo_open=lo_open)
    if d.get("sit_out") == 1.0:
        raise ValueError("sit_out must be in [0, 1), got 1.0")
    ints = {"top_k": (0, 1 << 24), "repeat_last_n": (-1, 1 << 20), "seed": (0, 2**32 - 1),
            "max_segment_tokens": (1, 4096)}
    for name, (lo, hi) in ints.items():
        if name in o:
            d[name] = check_int(name, o.pop(name), lo, hi)
    v = o.pop("only_model", None)
    if v is not None:
        d["only_model"] = check_int("only_model", v, 0, n_models - 1)
    for name in ("prompt_weights", "word_end", "per_word", "confidence"):
        v = o.pop(name, None)
        if v is not None:
            d[name] = check_bool(name, v)
    for name in ("parallel_models", "cache_prompt"):
        if name in o:
            d[name] = check_bool(name, o.pop(name))
    v = o.pop("peer", None)
    if v is not None:
        if not isinstance(v, Mapping):
            raise TypeError(f"peer must be a dict, got {_type_name(v)}")
        for key, x in v.items():
            if key not in _PEER:
                raise ValueError(f"peer has no setting {key!r} (one of {', '.join(_PEER)})")
            kind, lo, hi = _PEER[key]
            d[key] = check_int(f"peer[{key!r}]", x, lo, hi) if kind is int \
                else check_real(f"peer[{key!r}]", x, lo, hi, lo_open=key == "gate")
    grammar = grammar_of(o.pop("grammar", None), o.pop("json_schema", None))
    if grammar is not None:
        d["grammar"] = grammar
    if o:
        raise TypeError(f"unexpected keyword argument {next(iter(o))!r}")
    return d
