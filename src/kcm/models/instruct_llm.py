"""Large model B of the paper profile: an instruction-tuned LLM used zero-shot through prompts
(the paper used ChatGPT; we use an open model through transformers, or any OpenAI-compatible
server).

Each text becomes a prompt listing the class names; hint variants add the small model's
suggestion. Every class is scored by the total log-probability of its name as the answer
continuation, and a softmax over those scores gives the probabilities. Scoring is exact and
deterministic (no sampling): every class name is scored whatever the model would have generated.
Outputs have the shape of every other large model: split -> variant ("none", "hint_<k>") ->
(N, K) probabilities, written with `kcm.models.hf_classifier.write_outputs`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from kcm import device as kcm_device
from kcm.baselines.text_tfidf import input_text

INSTRUCTION = "Classify the text into exactly one of these categories:"
HINT_LINE = "A smaller model suggests: {label}"
ANSWER_LINE = "Answer with the category name only."
PLAIN_SUFFIX = "\nAnswer:"  # models without a chat template continue after this


def variant_names(n_classes: int) -> list[str]:
    return ["none", *[f"hint_{k}" for k in range(n_classes)]]


def build_prompt(text: str, classes: list[str], descriptions: dict[str, str] | None, hint: str | None) -> str:
    """The user message: categories (with descriptions if given), the text, the hint if any."""
    if descriptions is not None:
        missing = [c for c in classes if c not in descriptions]
        if missing:
            raise KeyError(f"no description for classes {missing}; give one per class or none at all")
    lines = [INSTRUCTION]
    for c in classes:
        lines.append(f"- {c}: {descriptions[c]}" if descriptions else f"- {c}")
    lines += ["", f"Text: {text}"]
    if hint is not None:
        lines.append(HINT_LINE.format(label=hint))
    lines.append(ANSWER_LINE)
    return "\n".join(lines)


def prompts_by_variant(texts: list[str], classes, descriptions) -> dict[str, list[str]]:
    out = {"none": [build_prompt(t, classes, descriptions, None) for t in texts]}
    for k, label in enumerate(classes):
        out[f"hint_{k}"] = [build_prompt(t, classes, descriptions, label) for t in texts]
    return out


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- local model (transformers)


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def answer_prefix(tokenizer, prompt: str) -> str:
    """Everything the model reads before its answer: the chat template if any, else plain text."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return prompt + PLAIN_SUFFIX


def answer_texts(tokenizer, classes: list[str]) -> list[str]:
    # After "Answer:" a word starts with a space; a chat template ends its prefix at a line start.
    return list(classes) if has_chat_template(tokenizer) else [" " + c for c in classes]


def prefix_ids(tokenizer, prefix: str) -> list[int]:
    # A chat template writes its own special tokens; plain text gets the tokenizer's (e.g. BOS).
    return tokenizer(prefix, add_special_tokens=not has_chat_template(tokenizer))["input_ids"]


def truncate_text(tokenizer, text: str, max_length: int) -> str:
    """At most `max_length` tokens of the input text, so the instruction and answer are never cut."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= max_length else tokenizer.decode(ids[:max_length])


class LocalScorer:
    """Total log-probability of each answer continuation, batched with left padding."""

    def __init__(self, model_id: str, offline: bool, device: str | None = None, dtype: str = "float32"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_id, local_files_only=offline)
        self.device = kcm_device.pick(device)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_id, local_files_only=offline, dtype=getattr(torch, dtype)
        ).to(self.device).eval()
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.tokenizer.eos_token_id or 0)

    @torch.inference_mode()
    def score(self, pairs: list[tuple[list[int], list[int]]], batch_size: int) -> np.ndarray:
        """sum_j log p(answer_j | prefix, answer_<j) for each (prefix ids, answer ids) pair;
        `batch_size` sequences per forward pass, similar lengths batched together (less padding)."""
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        out = np.zeros(len(pairs))
        for start in range(0, len(pairs), batch_size):
            picked = order[start : start + batch_size]
            chunk = [pairs[i] for i in picked]
            width = max(len(p) + len(a) for p, a in chunk)
            keep = max(len(a) for _, a in chunk) + 1  # logits that predict the answer tokens
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (p, a) in enumerate(chunk):
                seq = p + a
                ids[row, width - len(seq) :] = torch.tensor(seq)
                mask[row, width - len(seq) :] = 1
            # Left padding puts every answer at the end; positions count real tokens only.
            positions = (mask.cumsum(-1) - 1).clamp_min(0)
            logits = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                position_ids=positions.to(self.device), logits_to_keep=keep,
            ).logits.float().log_softmax(-1).cpu()
            for row, (_, a) in enumerate(chunk):
                # logits[:, j] predicts token width-keep+j+1; answer occupies the last len(a) slots.
                steps = torch.arange(keep - 1 - len(a), keep - 1)
                out[picked[row]] = logits[row, steps, torch.tensor(a)].double().sum().item()
        if not np.isfinite(out).all():
            raise FloatingPointError("non-finite log-probabilities from the language model")
        return out


def prompted_outputs(
    frames: dict[str, pd.DataFrame],
    *,
    fields: tuple[str, ...],
    classes: list[str],
    descriptions: dict[str, str] | None,
    model_id: str,
    offline: bool,
    batch_size: int = 16,
    max_length: int = 256,
    device: str | None = None,
    dtype: str = "float32",
) -> dict[str, dict[str, np.ndarray]]:
    """split -> variant -> (N, K) class probabilities from a local instruction LLM (zero-shot).

    `max_length` limits the input text (in tokens) inside each prompt, not the prompt itself.
    """
    from tqdm import tqdm

    scorer = LocalScorer(model_id, offline, device, dtype)
    tok = scorer.tokenizer
    answers = [tok(a, add_special_tokens=False)["input_ids"] for a in answer_texts(tok, classes)]
    empty = [c for c, a in zip(classes, answers) if not a]
    if empty:
        raise ValueError(f"class names {empty} tokenise to nothing")
    outputs = {}
    for split, frame in frames.items():
        texts = [truncate_text(tok, t, max_length) for t in input_text(frame, fields).tolist()]
        outputs[split] = {}
        for name, prompts in tqdm(prompts_by_variant(texts, classes, descriptions).items(), desc=f"llm {split}"):
            prefixes = [prefix_ids(tok, answer_prefix(tok, p)) for p in prompts]
            pairs = [(prefix, a) for prefix in prefixes for a in answers]
            scores = scorer.score(pairs, batch_size).reshape(len(prompts), len(classes))
            outputs[split][name] = softmax_rows(scores) if len(prompts) else np.zeros((0, len(classes)))
    return outputs


# ---------------------------------------------------------------- OpenAI-compatible server


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server. `scoring`: "logprobs" scores every class name through
    /v1/completions with echo + logprobs (exact, needs a server that echoes prompt logprobs,
    e.g. vLLM); "answer" asks /v1/chat/completions for an answer at temperature 0 and turns the
    parsed class into a smoothed one-hot distribution (unparseable answers count, and get uniform)."""

    base_url: str
    model: str
    api_key_env: str | None = None  # the NAME of the environment variable holding the key
    scoring: str = "logprobs"
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 2.0
    workers: int = 4
    smoothing: float = 0.01
    max_chars: int | None = 2000
    max_tokens: int = 16


class EndpointError(RuntimeError):
    pass


def _headers(endpoint: Endpoint) -> dict[str, str]:
    if endpoint.api_key_env is None:
        return {}
    key = os.environ.get(endpoint.api_key_env)
    if not key:
        raise EndpointError(f"environment variable {endpoint.api_key_env} (api_key_env) is not set")
    return {"Authorization": f"Bearer {key}"}


_local = threading.local()


def _session():
    """One requests.Session per worker thread (sessions are not documented as thread-safe)."""
    import requests

    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def post_json(endpoint: Endpoint, route: str, body: dict) -> dict:
    """POST with timeouts; retries on connection errors, 429 and 5xx; other errors fail at once."""
    import requests

    session = _session()
    url = endpoint.base_url.rstrip("/") + route
    last = ""
    for attempt in range(endpoint.retries):
        try:
            reply = session.post(url, json=body, headers=_headers(endpoint), timeout=endpoint.timeout_s)
        except requests.RequestException as err:
            last = f"{type(err).__name__}: {err}"
        else:
            if reply.status_code == 200:
                return reply.json()
            last = f"HTTP {reply.status_code}: {reply.text[:300]}"
            if reply.status_code != 429 and reply.status_code < 500:
                raise EndpointError(f"{url}: {last}")
        if attempt + 1 < endpoint.retries:
            time.sleep(endpoint.backoff_s * 2**attempt)
    raise EndpointError(f"{url}: failed after {endpoint.retries} attempts; last error {last}")


def _echo_scores(endpoint: Endpoint, prompt: str, classes: list[str]) -> np.ndarray:
    prefix = prompt + PLAIN_SUFFIX
    full = [prefix + " " + c for c in classes]
    # max_tokens 1: some servers refuse 0; the generated token lies past the prompt and is skipped.
    body = {"model": endpoint.model, "prompt": full, "max_tokens": 1, "echo": True, "logprobs": 1, "temperature": 0}
    choices = sorted(post_json(endpoint, "/v1/completions", body).get("choices", []), key=lambda c: c["index"])
    if len(choices) != len(classes):
        raise EndpointError(f"{endpoint.base_url}: expected {len(classes)} choices, got {len(choices)}")
    scores = []
    for choice, text in zip(choices, full):
        lp = choice.get("logprobs") or {}
        tokens, offsets = lp.get("token_logprobs"), lp.get("text_offset")
        if not tokens or not offsets:
            raise EndpointError(
                f"{endpoint.base_url} returned no echoed prompt logprobs; use a server that does "
                "(e.g. vLLM) or set scoring: answer"
            )
        # Answer tokens start inside [end of prefix, end of prompt); the first prompt token has None.
        scores.append(sum(t for t, o in zip(tokens, offsets) if len(prefix) <= o < len(text) and t is not None))
    return np.array(scores, dtype=float)


def parse_answer(answer: str, classes: list[str]) -> int | None:
    """The class the answer names: an exact match, else the only class named as a whole word."""
    clean = answer.strip().strip(".!\"'`*").strip().lower()
    lowered = [c.lower() for c in classes]
    if clean in lowered:
        return lowered.index(clean)
    named = [k for k, c in enumerate(lowered) if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", clean)]
    return named[0] if len(named) == 1 else None


def _chat_answer(endpoint: Endpoint, prompt: str) -> str:
    body = {"model": endpoint.model, "messages": [{"role": "user", "content": prompt}],
            "temperature": 0, "max_tokens": endpoint.max_tokens, "seed": 0}
    choices = post_json(endpoint, "/v1/chat/completions", body).get("choices") or []
    if not choices:
        raise EndpointError(f"{endpoint.base_url}: no choices in the chat reply")
    return choices[0]["message"]["content"] or ""


def prompted_outputs_api(
    frames: dict[str, pd.DataFrame],
    *,
    fields: tuple[str, ...],
    classes: list[str],
    descriptions: dict[str, str] | None,
    endpoint: Endpoint,
) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """split -> variant -> (N, K) probabilities from a server, and a report (scoring method,
    requests made, unparseable answers per split and variant) for the table footer."""
    if endpoint.scoring not in ("logprobs", "answer"):
        raise ValueError(f"endpoint.scoring must be 'logprobs' or 'answer', got {endpoint.scoring!r}")
    _headers(endpoint)  # a missing key fails before any request
    k = len(classes)
    outputs, unparseable, n_requests = {}, {}, 0
    with ThreadPoolExecutor(max(1, endpoint.workers)) as pool:
        for split, frame in frames.items():
            texts = input_text(frame, fields).tolist()
            if endpoint.max_chars is not None:
                texts = [t[: endpoint.max_chars] for t in texts]
            outputs[split], unparseable[split] = {}, {}
            for name, prompts in prompts_by_variant(texts, classes, descriptions).items():
                n_requests += len(prompts)
                if endpoint.scoring == "logprobs":
                    scores = list(pool.map(lambda p: _echo_scores(endpoint, p, classes), prompts))
                    probs = softmax_rows(np.array(scores).reshape(len(prompts), k))
                    unparseable[split][name] = 0
                else:
                    picks = [parse_answer(a, classes) for a in pool.map(lambda p: _chat_answer(endpoint, p), prompts)]
                    probs = np.full((len(prompts), k), 1.0 / k)  # unparseable: uniform
                    for row, pick in enumerate(picks):
                        if pick is not None:
                            probs[row] = endpoint.smoothing / k
                            probs[row, pick] += 1.0 - endpoint.smoothing
                    unparseable[split][name] = sum(p is None for p in picks)
                outputs[split][name] = probs
    report = {"scoring": endpoint.scoring, "model": endpoint.model, "requests": n_requests, "unparseable": unparseable}
    return outputs, report
