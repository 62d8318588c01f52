"""What the engine returns, as plain frozen dataclasses (coolfusion/result.h in C++).

Per-model lists are in the ensemble's order (the order of the paths given to Ensemble).
A perplexity or likelihood is ``nan`` for a model that did not take part and ``inf`` for
one whose tokenizer cannot encode the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    "ModelInfo",
    "Candidate",
    "Segment",
    "ModelReport",
    "Counters",
    "Timings",
    "GenerationResult",
    "ContinuationScore",
    "ScoreResult",
]


@dataclass(frozen=True)
class ModelInfo:
    """One model of an ensemble, as loaded."""

    path: str
    name: str  #: file name without directory
    label: str  #: how messages name it: "model 2 (arith3-b)"
    tokenizer: str  #: "spm", "bpe", ...
    n_vocab: int
    n_params: int  #: 0 for vocab-only
    n_ctx: int  #: context length in use
    n_ctx_train: int  #: context length the model was trained on
    vocab_only: bool
    has_chat_template: bool
    n_gpu_layers: int  #: as asked
    gpu_layers_on_cpu: bool  #: GPU layers were asked, but this build has no GPU backend


@dataclass(frozen=True)
class Candidate:
    """A piece of text one or more models proposed for a segment, and how each model
    scored it."""

    text: str
    ends_generation: bool  #: the writer ended the text after it
    writers: Tuple[int, ...]  #: models whose own draft was this text
    ppl: Tuple[float, ...]  #: each model's perplexity of it
    used: Tuple[bool, ...]  #: whether each model's perplexity counted in the score
    score: float  #: the scoring rule's value; the lowest wins
    keeps_start: bool  #: False: it would undo the previous segment's word boundary


@dataclass(frozen=True)
class Segment:
    """One step of the fusion: the committed text, the winner and every candidate.

    ``delta`` is set on the segments a stream yields: the text this step made safe to show
    (text that may begin a stop string is held back; the deltas of a whole stream spell
    the result's text). It is ``None`` in GenerationResult.segments."""

    text: str
    winner: int  #: the model that first wrote the winning candidate
    winning_candidate: int  #: its index in candidates
    candidates: Tuple[Candidate, ...]
    aligned: bool  #: False: no common word boundary within max_segment_tokens
    merged: bool  #: the previous segment was merged into this one
    generate_ms: float
    score_ms: float
    tokens_decoded: Tuple[int, ...]  #: per model, in this step
    decode_calls: Tuple[int, ...]  #: per model, in this step
    draft_decodes: Tuple[int, ...]  #: per model: decode calls spent on its own draft
    scoring_calls: Tuple[int, ...]  #: per model: batched scoring decodes
    delta: Optional[str] = None


@dataclass(frozen=True)
class ModelReport:
    """How one model took part in a request."""

    prompt_bits_per_byte: float  #: nan when not measured
    prompt_bytes: int  #: bytes it was measured on
    weight: float  #: the weight its perplexities had in this request
    sat_out: bool  #: its weight was negligible: it neither drafted nor scored
    active: bool  #: it took part


@dataclass(frozen=True)
class Counters:
    """Counts of the engine's events over one request, summed over models."""

    decode_calls: int
    tokens_decoded: int
    scoring_calls: int
    candidates_scored: int
    duplicate_candidates: int
    retokenize_changes: int
    rollback_tokens: int
    boundary_checks: int
    align_ns: int
    merged_segments: int
    unencodable: int
    prescored_tokens: int
    sat_out: int
    gated_segments: int
    positions: int
    fused_positions: int
    prompt_renders: int


@dataclass(frozen=True)
class Timings:
    """Milliseconds (coolfusion/result.h says what each covers)."""

    total_ms: float
    generate_ms: float
    score_ms: float
    decode_ms: float
    prompt_ms: float
    prompt_fit_ms: float
    prompt_decode_ms: float


@dataclass(frozen=True)
class GenerationResult:
    """A whole generation: Ensemble.generate, Ensemble.chat, Stream.result."""

    text: str  #: the generated text, without the prompt
    stop_reason: str  #: "eog", "stop", "length", "context" or "cancelled"
    segments: Tuple[Segment, ...]
    answers: Tuple[str, ...]  #: rerank / cool+r: the whole answers that were ranked
    answer_scores: Tuple[float, ...]
    n_new_tokens: int  #: tokens of text under model 0's tokenizer
    n_prompt_tokens: int
    n_cached_tokens: int  #: prompt tokens reused from the previous request's KV cache
    counters: Counters
    timings: Timings
    warnings: Tuple[str, ...]
    models: Tuple[ModelReport, ...]  #: per model (empty when only_model was given)

    @property
    def weights(self) -> Tuple[float, ...]:
        """Each model's weight in this request (models[i].weight)."""
        return tuple(m.weight for m in self.models)

    @property
    def tokens_per_s(self) -> float:
        t = self.timings.total_ms
        return self.n_new_tokens * 1000.0 / t if t > 0 else 0.0


@dataclass(frozen=True)
class ContinuationScore:
    """One given continuation of a prompt, as each model reads it and fused."""

    text: str
    nll: Tuple[float, ...]  #: negative log-likelihood in nats, per model
    tokens: Tuple[int, ...]  #: the tokens nll is summed over, per model
    nll_per_byte: Tuple[float, ...]
    ppl: Tuple[float, ...]  #: what the scoring rule reads
    score: float  #: the fused score; the lowest is the best
    #: the models' nll averaged with the request's weights (multiple choice's fused acc;
    #: over the bytes, acc_norm)
    nll_fused: float


@dataclass(frozen=True)
class ScoreResult:
    """Ensemble.score: the continuations in the order given, and the best of them."""

    continuations: Tuple[ContinuationScore, ...]
    best: int  #: index of the continuation with the lowest score
    n_prompt_tokens: int
    n_cached_tokens: int
    models: Tuple[ModelReport, ...]
    warnings: Tuple[str, ...]
    counters: Counters
    timings: Timings

    @property
    def best_text(self) -> str:
        return self.continuations[self.best].text

    @property
    def weights(self) -> Tuple[float, ...]:
        """Each model's weight in this request (models[i].weight)."""
        return tuple(m.weight for m in self.models)


# From the extension's dicts (python/src/convert.cc) --------------------------------------


def _tuple(xs: List[Any]) -> Tuple[Any, ...]:
    return tuple(xs)


def _candidate(d: Dict[str, Any]) -> Candidate:
    return Candidate(text=d["text"], ends_generation=d["ends_generation"],
                     writers=_tuple(d["writers"]), ppl=_tuple(d["ppl"]),
                     used=_tuple(d["used"]), score=d["score"], keeps_start=d["keeps_start"])


def _segment(d: Dict[str, Any], delta: Optional[str] = None) -> Segment:
    return Segment(text=d["text"], winner=d["winner"],
                   winning_candidate=d["winning_candidate"],
                   candidates=tuple(_candidate(c) for c in d["candidates"]),
                   aligned=d["aligned"], merged=d["merged"], generate_ms=d["generate_ms"],
                   score_ms=d["score_ms"], tokens_decoded=_tuple(d["tokens_decoded"]),
                   decode_calls=_tuple(d["decode_calls"]),
                   draft_decodes=_tuple(d["draft_decodes"]),
                   scoring_calls=_tuple(d["scoring_calls"]), delta=delta)


def _models(ms: List[Dict[str, Any]]) -> Tuple[ModelReport, ...]:
    return tuple(ModelReport(**m) for m in ms)


def _generation(d: Dict[str, Any]) -> GenerationResult:
    return GenerationResult(
        text=d["text"], stop_reason=d["stop_reason"],
        segments=tuple(_segment(s) for s in d["segments"]), answers=_tuple(d["answers"]),
        answer_scores=_tuple(d["answer_scores"]), n_new_tokens=d["n_new_tokens"],
        n_prompt_tokens=d["n_prompt_tokens"], n_cached_tokens=d["n_cached_tokens"],
        counters=Counters(**d["counters"]), timings=Timings(**d["timings"]),
        warnings=_tuple(d["warnings"]), models=_models(d["models"]))


def _score(d: Dict[str, Any]) -> ScoreResult:
    return ScoreResult(
        continuations=tuple(
            ContinuationScore(text=c["text"], nll=_tuple(c["nll"]), tokens=_tuple(c["tokens"]),
                              nll_per_byte=_tuple(c["nll_per_byte"]), ppl=_tuple(c["ppl"]),
                              score=c["score"], nll_fused=c["nll_fused"])
            for c in d["continuations"]),
        best=d["best"], n_prompt_tokens=d["n_prompt_tokens"],
        n_cached_tokens=d["n_cached_tokens"], models=_models(d["models"]),
        warnings=_tuple(d["warnings"]), counters=Counters(**d["counters"]),
        timings=Timings(**d["timings"]))

