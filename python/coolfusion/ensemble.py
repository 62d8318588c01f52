"""Ensemble: GGUF models fused at inference time; Stream: one generation, segment by
segment."""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from . import _core, _options, results
from .results import GenerationResult, ModelInfo, ScoreResult, Segment

Path = Union[str, "os.PathLike[str]"]
Message = Union[Mapping[str, str], Tuple[str, str]]

_open_ensembles: "weakref.WeakSet[Ensemble]" = weakref.WeakSet()
_open_streams: "weakref.WeakSet[Stream]" = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # A stream's generation runs on a thread of its own: stop it before the interpreter
    # goes away, rather than let it run on into the process's exit.
    for s in list(_open_streams):
        s.close()
    for e in list(_open_ensembles):
        e.close()


class Ensemble:
    """Two or more GGUF models (or one) that generate as one, whatever their tokenizers.

    ``Ensemble(paths, n_ctx=..., n_gpu_layers=..., weights=...)`` loads the models
    (memory-mapped). A missing file raises FileNotFoundError, a file that is not a usable
    GGUF model OSError, a bad argument TypeError or ValueError; each message says which.

    An Ensemble runs one call at a time: a call from another thread waits for the running
    one to finish. Use one Ensemble per thread to generate in parallel (the engine releases
    the GIL). It keeps its KV caches between calls (the prompt cache). ``close()``, or
    leaving a ``with`` block, frees the models at once; a call running then stops.
    """

    def __init__(self, paths: Union[Path, Sequence[Path]], *, n_ctx: int = 0,
                 n_threads: int = 0, n_gpu_layers: int = 0,
                 weights: Optional[Sequence[float]] = None,
                 chat_template: Union[str, Sequence[str], None] = None,
                 use_mmap: bool = True, flash_attn: Optional[bool] = None,
                 vocab_only: bool = False) -> None:
        """
        Args:
            paths: the GGUF files, in order (a single path: one model).
            n_ctx: each model's context length; 0: 4096.
            n_threads: CPU threads per model; 0: all hardware threads.
            n_gpu_layers: layers offloaded to a GPU; -1: all (no effect without a GPU build).
            weights: each model's weight in a candidate's score (times its prompt weight
                when prompt weights are on); 0: the model sits out. Default: all 1.
            chat_template: for chat(): a llama.cpp template name ("chatml", "llama3", ...)
                or a template's text, for every model or one per model; default: each
                GGUF's own.
            use_mmap: memory-map the files (False: read them into memory).
            flash_attn: flash attention on or off; None: llama.cpp decides.
            vocab_only: load only the tokenizers (nothing can be generated).
        """
        self._core: Optional[_core.Ensemble] = None
        models = _options.model_dicts(paths, n_ctx=n_ctx, n_threads=n_threads,
                                      n_gpu_layers=n_gpu_layers, weights=weights,
                                      chat_template=chat_template, use_mmap=use_mmap,
                                      flash_attn=flash_attn, vocab_only=vocab_only)
        self._core = _core.Ensemble(models)
        self._models = tuple(ModelInfo(**d) for d in self._core.infos())
        self._load_warnings = tuple(self._core.load_warnings())
        self._stream: Optional[weakref.ref[Stream]] = None
        _open_ensembles.add(self)

    @property
    def models(self) -> Tuple[ModelInfo, ...]:
        """The models, in the order given."""
        return self._models

    @property
    def load_warnings(self) -> Tuple[str, ...]:
        """What to know about how the models were loaded (e.g. n_gpu_layers without a GPU)."""
        return self._load_warnings

    @property
    def closed(self) -> bool:
        return self._core is None or self._core.closed

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        names = ", ".join(m.name for m in self._models)
        return f"<coolfusion.Ensemble [{names}]{' closed' if self.closed else ''}>"

    def __enter__(self) -> "Ensemble":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Frees the models. A call running on another thread, or a stream, stops (its
        result's stop_reason is "cancelled"); later calls raise ValueError. Idempotent."""
        if self._core is not None:
            self._core.close()
            _open_ensembles.discard(self)

    def _usable(self) -> _core.Ensemble:
        if self._core is None or self._core.closed:
            raise ValueError("this Ensemble is closed")
        s = self._stream() if self._stream is not None else None
        if s is not None and s._owner == threading.get_ident() and s.running:
            raise RuntimeError("a stream of this Ensemble is still running: read it to the "
                               "end or close() it first")
        return self._core

    def generate(self, prompt: str, *, max_tokens: Optional[int] = 128,
                 method: Optional[str] = None, score: Optional[str] = None,
                 temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
                 min_p: float = 0.0, seed: int = 0, repeat_penalty: float = 1.0,
                 frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
                 repeat_last_n: int = 64, stop: Union[str, Sequence[str], None] = None,
                 grammar: Optional[str] = None,
                 json_schema: Union[str, Mapping[str, Any], None] = None,
                 only_model: Optional[int] = None, prompt_weights: Optional[bool] = None,
                 word_end: Optional[bool] = None, per_word: Optional[bool] = None,
                 confidence: Optional[bool] = None,
                 prompt_temp: float = 0.25, sit_out: float = 0.01,
                 prompt_evidence: float = 32.0, sweetspan_ratio: float = 10.0,
                 max_segment_tokens: int = 32, parallel_models: bool = False,
                 cache_prompt: bool = True,
                 peer: Optional[Mapping[str, float]] = None) -> GenerationResult:
        """Generates fused text after a raw prompt; returns the whole result.

        Args:
            prompt: the text to continue (no chat template; see chat()).
            max_tokens: new tokens at most, counted with the first model's tokenizer;
                None or -1: until the models end the text or a context is full.
            method: the fusion method (coolfusion.methods()); None: the default, "cool".
            score: the scoring rule: "auto" (default), "mean" (the paper's), "geomean",
                "sweetspan", "median".
            temperature, top_p, top_k, min_p, seed: each model's draft sampling
                (llama.cpp's names and defaults; temperature 0: greedy).
            repeat_penalty, frequency_penalty, presence_penalty, repeat_last_n: penalties
                on repeated tokens (llama.cpp's).
            stop: a stop string or a list of them; the text ends before the first one.
            grammar: a GBNF grammar (root rule "root") every model drafts under.
            json_schema: a JSON schema (dict or JSON text) the answer must follow,
                converted to a grammar. Give grammar or json_schema, not both.
            only_model: generate with this model alone (its index), without fusion.
            prompt_weights, word_end, per_word, confidence: the scoring refinements, on
                or off; None: on under score "auto" (prompt weights, word ends,
                confidence), off otherwise.
            prompt_temp, sit_out, prompt_evidence: prompt weights' temperature (bits per
                byte), the relative weight below which a model sits out, and the bytes of
                evidence below which the temperature grows.
            sweetspan_ratio: score "sweetspan"'s perplexity ratio.
            max_segment_tokens: a candidate with no common word boundary within this many
                tokens is cut at its last word boundary.
            parallel_models: run the models in parallel threads.
            cache_prompt: reuse the KV caches for the prompt's common prefix with the
                previous call's.
            peer: the peer methods' settings: gate, unite_top_k, adafuse_margin,
                adafuse_words, adafuse_beams, safe_draft_tokens. gate is also cool's
                (default 0.8 under score "auto"; 1: never).

        Returns: a GenerationResult: text, stop_reason, segments (each with its candidates
        and every model's perplexity of them), models (each model's weight), counters,
        timings.

        Raises: TypeError, ValueError for bad arguments or a prompt too long for a context;
        RuntimeError for the rest. Ctrl-C stops the generation and raises KeyboardInterrupt.
        """
        opts = dict(locals())  # the keyword arguments, each checked by _options
        del opts["self"], opts["prompt"]
        request = {"prompt": _options.check_str("prompt", prompt)}
        request.update(_options.options(len(self._models), opts))
        return results._generation(self._usable().generate(request))

    def chat(self, messages: Sequence[Message], *, max_tokens: Optional[int] = 128,
             method: Optional[str] = None, score: Optional[str] = None,
             temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
             min_p: float = 0.0, seed: int = 0, repeat_penalty: float = 1.0,
             frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
             repeat_last_n: int = 64, stop: Union[str, Sequence[str], None] = None,
             grammar: Optional[str] = None,
             json_schema: Union[str, Mapping[str, Any], None] = None,
             only_model: Optional[int] = None, prompt_weights: Optional[bool] = None,
             word_end: Optional[bool] = None, per_word: Optional[bool] = None,
             confidence: Optional[bool] = None,
             prompt_temp: float = 0.25, sit_out: float = 0.01,
             prompt_evidence: float = 32.0, sweetspan_ratio: float = 10.0,
             max_segment_tokens: int = 32, parallel_models: bool = False,
             cache_prompt: bool = True,
             peer: Optional[Mapping[str, float]] = None) -> GenerationResult:
        """The assistant's next message: ``messages`` ({"role": "system" | "user" |
        "assistant", "content": str} dicts, or (role, content) pairs) are rendered through
        each model's own chat template, and the answer is fused. Options as generate()."""
        opts = dict(locals())
        del opts["self"], opts["messages"]
        request = {"messages": _options.messages(messages)}
        request.update(_options.options(len(self._models), opts))
        return results._generation(self._usable().generate(request))

    def stream(self, prompt: Union[str, Sequence[Message]], *,
               max_tokens: Optional[int] = 128, method: Optional[str] = None,
               score: Optional[str] = None, temperature: float = 0.0, top_p: float = 1.0,
               top_k: int = 0, min_p: float = 0.0, seed: int = 0,
               repeat_penalty: float = 1.0, frequency_penalty: float = 0.0,
               presence_penalty: float = 0.0, repeat_last_n: int = 64,
               stop: Union[str, Sequence[str], None] = None, grammar: Optional[str] = None,
               json_schema: Union[str, Mapping[str, Any], None] = None,
               only_model: Optional[int] = None, prompt_weights: Optional[bool] = None,
               word_end: Optional[bool] = None, per_word: Optional[bool] = None,
               confidence: Optional[bool] = None,
               prompt_temp: float = 0.25, sit_out: float = 0.01,
               prompt_evidence: float = 32.0, sweetspan_ratio: float = 10.0,
               max_segment_tokens: int = 32, parallel_models: bool = False,
               cache_prompt: bool = True,
               peer: Optional[Mapping[str, float]] = None) -> "Stream":
        """Starts a generation and returns its Stream: an iterator of Segments, each with
        its ``delta`` (the text to show). ``prompt`` is a raw prompt (str) or chat messages
        (as chat()). Options as generate(). Bad arguments raise here, before the
        generation starts.

        Leaving the stream early (``break``, ``close()``, or dropping it) cancels the
        generation, and the Ensemble is free at once. ``stream.result`` is the
        GenerationResult once the stream is over."""
        opts = dict(locals())
        del opts["self"], opts["prompt"]
        request = _options.prompt_or_messages(prompt)
        request.update(_options.options(len(self._models), opts))
        s = Stream(self, self._usable().stream(request))
        self._stream = weakref.ref(s)
        return s

    def score(self, prompt: Union[str, Sequence[Message]], continuations: Sequence[str], *,
              score: Optional[str] = None, only_model: Optional[int] = None,
              prompt_weights: Optional[bool] = None, per_word: Optional[bool] = None,
              prompt_temp: float = 0.25, sit_out: float = 0.01,
              prompt_evidence: float = 32.0, sweetspan_ratio: float = 10.0,
              cache_prompt: bool = True) -> ScoreResult:
        """Scores given continuations of a prompt instead of generating (multiple choice):
        each model's negative log-likelihood of each one after the prompt (total, tokens,
        per byte, perplexity) and the fused score under the scoring rule and weights, the
        lowest the best (``result.best``, ``result.best_text``).

        ``prompt`` is a raw prompt (str) or chat messages (the continuations then follow
        the assistant's turn). ``continuations``: 1 to 4096 non-empty strings. Options as
        generate()."""
        opts = dict(locals())
        del opts["self"], opts["prompt"], opts["continuations"]
        request = _options.prompt_or_messages(prompt)
        request.update(_options.options(len(self._models), opts))
        conts = _options.check_strings("continuations", continuations)
        if not conts:
            raise ValueError("continuations is empty: give at least one answer to score")
        return results._score(self._usable().score(request, conts))


class Stream:
    """One generation, segment by segment (Ensemble.stream). Iterate it for the Segments;
    each one's ``delta`` is the text to show. ``close()`` (or leaving a ``with`` block, or
    dropping the stream) cancels the generation. Not for use from several threads."""

    def __init__(self, ensemble: Ensemble, core: _core.Stream) -> None:
        self._ensemble = ensemble  # kept alive while the stream is
        self._core = core
        self._owner = threading.get_ident()
        self._done = False
        self._result: Optional[GenerationResult] = None
        _open_streams.add(self)

    def __iter__(self) -> Iterator[Segment]:
        return self

    def __next__(self) -> Segment:
        if self._done:
            raise StopIteration
        try:
            item = self._core.next()
            if item is None:
                self._done = True
                _open_streams.discard(self)
                raise StopIteration
            segment, delta = item
            return results._segment(segment, delta)
        except KeyboardInterrupt:  # Ctrl-C while waiting or reading: the reader wants it stopped
            self.close()
            raise
        except StopIteration:
            raise
        except BaseException:
            self._done = True  # the engine's error, raised once
            raise

    @property
    def running(self) -> bool:
        """Whether the generation is still going (segments may still be waiting to be read
        after it stopped)."""
        return self._core.running

    @property
    def result(self) -> GenerationResult:
        """The whole generation, once it is over (read to the end, or closed: then its
        stop_reason is "cancelled" unless it had already ended)."""
        if self._result is None:
            if self._core.running:
                raise RuntimeError("the stream is still running: read it to the end or "
                                   "close() it first")
            self._result = results._generation(self._core.result())
        return self._result

    def close(self) -> None:
        """Cancels the generation if it still runs and waits for it to stop (within one
        segment); the Ensemble is free when this returns. Idempotent."""
        self._done = True
        self._core.close()
        _open_streams.discard(self)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_core", None) is not None:
            self._core.close()


def methods() -> Tuple[str, ...]:
    """The fusion methods' names (Ensemble.generate's method=)."""
    return tuple(_core.methods())


def json_schema_to_grammar(schema: Union[str, Mapping[str, Any]]) -> str:
    """A JSON schema (dict or JSON text) as a GBNF grammar, by llama.cpp's converter, run in
    the sandbox. An unusable schema raises ValueError."""
    return _options.grammar_of(None, schema) or ""


__all__: List[str] = ["Ensemble", "Stream", "methods", "json_schema_to_grammar"]
