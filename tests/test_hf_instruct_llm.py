"""Large model B of the paper profile (prompted instruction LLM), offline: tiny random-weight causal
LMs with tokenizers built here (exact class scoring against a brute-force forward pass), and a tiny
OpenAI-compatible server on loopback (request format, logprob scoring, parsed answers, errors)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import torch

from kcm.bench.standins import word_level_tokenizer
from kcm.models import instruct_llm as il

CLASSES = ["fruit", "sport", "world politics"]  # one class name is two tokens long
DESCRIPTIONS = {"fruit": "fruit and food", "sport": "games and teams", "world politics": "votes and laws"}
TEXTS = ["apple banana today", "goal match team", "vote party law senate news and more words here"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|user|> {{ m['content'] }} </s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def make_tiny_lm(folder, arch):
    """A word-level tokenizer trained on the prompts, and a random causal LM (llama: chat template)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    corpus = [il.build_prompt(t, CLASSES, d, h) + il.PLAIN_SUFFIX
              for t in TEXTS for d in (None, DESCRIPTIONS) for h in (None, *CLASSES)]
    special = ["[PAD]", "[UNK]", "<s>", "</s>", "<|user|>", "<|assistant|>"]
    fast = word_level_tokenizer(folder, corpus, special, CHAT_TEMPLATE if arch == "llama" else None)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        if arch == "llama":  # rotary positions, like Qwen
            config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.3)
            model = LlamaForCausalLM(config)
        else:  # learned absolute positions
            model = GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_embd=32, n_layer=2, n_head=2, n_positions=256, initializer_range=0.3))
    model.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def tiny_lm(request, tmp_path_factory):
    return request.param, make_tiny_lm(tmp_path_factory.mktemp(f"tiny-{request.param}"), request.param)


def brute_force_score(model, tokenizer, prompt, answer):
    """log p(answer | prompt) from one unpadded forward pass of the full sequence."""
    prefix = il.prefix_ids(tokenizer, il.answer_prefix(tokenizer, prompt))
    tokens = tokenizer(answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = model(torch.tensor([prefix + tokens])).logits[0].double().log_softmax(-1)
    return sum(logp[len(prefix) + j - 1, t].item() for j, t in enumerate(tokens))


def test_prompts_list_classes_and_carry_the_hint():
    prompt = il.build_prompt("goal match", CLASSES, DESCRIPTIONS, "sport")
    assert prompt.splitlines() == [
        il.INSTRUCTION, "- fruit: fruit and food", "- sport: games and teams", "- world politics: votes and laws",
        "", "Text: goal match", "A smaller model suggests: sport", il.ANSWER_LINE,
    ]
    assert "suggests" not in il.build_prompt("goal match", CLASSES, None, None)
    by_variant = il.prompts_by_variant(["x"], CLASSES, None)
    assert list(by_variant) == ["none", "hint_0", "hint_1", "hint_2"]
    assert "A smaller model suggests: world politics" in by_variant["hint_2"][0]
    with pytest.raises(KeyError, match="description"):
        il.build_prompt("x", CLASSES, {"fruit": "f"}, None)


def test_batched_scores_equal_a_brute_force_forward_pass(tiny_lm):
    arch, path = tiny_lm
    scorer = il.LocalScorer(path, offline=True, device="cpu")
    tok = scorer.tokenizer
    assert il.has_chat_template(tok) == (arch == "llama")
    prompts = [il.build_prompt(t, CLASSES, None, h) for t in TEXTS for h in (None, "fruit")]
    answers = il.answer_texts(tok, CLASSES)
    pairs = [(il.prefix_ids(tok, il.answer_prefix(tok, p)), tok(a, add_special_tokens=False)["input_ids"]) for p in prompts for a in answers]
    assert {len(a) for _, a in pairs} == {1, 2} and len({len(p) for p, _ in pairs}) > 1  # padding really happens
    fast = scorer.score(pairs, batch_size=4)
    brute = [brute_force_score(scorer.model, tok, p, a) for p in prompts for a in answers]
    np.testing.assert_allclose(fast, brute, rtol=1e-5, atol=1e-5)
    assert np.ptp(fast) > 0.5  # a non-trivial comparison: the scores really differ


def test_prompted_outputs_shapes_determinism_and_truncation(tiny_lm):
    _, path = tiny_lm
    frames = {"val": pd.DataFrame({"title": TEXTS[:2]}), "test": pd.DataFrame({"title": TEXTS})}
    kwargs = dict(fields=("title",), classes=CLASSES, descriptions=DESCRIPTIONS, model_id=path, offline=True,
                  batch_size=5, max_length=64, device="cpu")
    out = il.prompted_outputs(frames, **kwargs)
    assert list(out) == ["val", "test"]
    for split, frame in frames.items():
        assert list(out[split]) == ["none", "hint_0", "hint_1", "hint_2"]
        for p in out[split].values():
            assert p.shape == (len(frame), 3) and np.allclose(p.sum(1), 1)
    assert not np.allclose(out["test"]["none"], out["test"]["hint_0"])  # the hint changes the prompt
    again = il.prompted_outputs(frames, **kwargs)
    for split in out:
        for name in out[split]:
            np.testing.assert_array_equal(out[split][name], again[split][name])
    # Probabilities are the softmax of the exact per-class scores.
    from transformers import AutoModelForCausalLM

    scorer = il.LocalScorer(path, offline=True, device="cpu")
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    prompt = il.build_prompt(TEXTS[2], CLASSES, DESCRIPTIONS, CLASSES[1])
    scores = [brute_force_score(model, scorer.tokenizer, prompt, a) for a in il.answer_texts(scorer.tokenizer, CLASSES)]
    np.testing.assert_allclose(out["test"]["hint_1"][2], il.softmax_rows(np.array([scores]))[0], atol=1e-6)
    # max_length cuts the text, never the instruction or the answer.
    assert il.truncate_text(scorer.tokenizer, TEXTS[2], 3).split() == TEXTS[2].split()[:3]
    short = il.prompted_outputs({"test": frames["test"]}, **(kwargs | {"max_length": 3}))
    np.testing.assert_allclose(short["test"]["none"][:2], out["test"]["none"][:2], atol=1e-6)  # other padding
    assert not np.allclose(short["test"]["none"][2], out["test"]["none"][2])


# ---------------------------------------------------------------- OpenAI-compatible server


@pytest.fixture
def server(monkeypatch):
    """A loopback server; tests set `state["handle"](path, body) -> (status, reply)`."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = {"requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            status, reply = state["handle"](self.path, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def answer_logprob(prompt_prefix, answer):
    """The fake model's opinion: the hinted class is likely, otherwise shorter names are."""
    hinted = f"suggests: {answer}\n" in prompt_prefix
    return -0.2 if hinted else -0.5 * len(answer)


def echo_completions(path, body):
    """/v1/completions with echo: word tokens with offsets and logprobs, plus one generated token."""
    assert path == "/v1/completions"
    choices = []
    for index, prompt in enumerate(body["prompt"]):
        prefix = prompt[: prompt.rindex(il.PLAIN_SUFFIX) + len(il.PLAIN_SUFFIX)]
        answer = prompt[len(prefix) + 1 :]
        words = answer.split(" ")  # one token per word, each with its leading space
        offsets, logprobs, at = [0, 5], [None, -9.0], len(prefix)  # two prefix tokens (ignored)
        for w in words:
            offsets.append(at)
            logprobs.append(answer_logprob(prefix, answer) / len(words))
            at += 1 + len(w)
        offsets.append(len(prompt))  # the generated token (ignored)
        logprobs.append(-9.0)
        choices.append({"index": index, "text": prompt + " x", "logprobs": {"token_logprobs": logprobs, "text_offset": offsets}})
    return 200, {"choices": choices[::-1]}  # any order: matched by index


def test_endpoint_logprob_scoring(server, monkeypatch):
    monkeypatch.setenv("KCM_TEST_KEY", "secret")
    server["handle"] = echo_completions
    endpoint = il.Endpoint(base_url=server["url"] + "/", model="tiny-chat", api_key_env="KCM_TEST_KEY", backoff_s=0, workers=2)
    frames = {"test": pd.DataFrame({"title": TEXTS})}
    out, report = il.prompted_outputs_api(frames, fields=("title",), classes=CLASSES, descriptions=None, endpoint=endpoint)
    assert report == {"scoring": "logprobs", "model": "tiny-chat", "requests": 12, "unparseable": {"test": {f: 0 for f in out["test"]}}}
    plain = il.softmax_rows(np.array([[-0.5 * len(c) for c in CLASSES]]))[0]
    np.testing.assert_allclose(out["test"]["none"], np.tile(plain, (3, 1)))
    for k, cls in enumerate(CLASSES):
        expected = il.softmax_rows(np.array([[-0.2 if c == cls else -0.5 * len(c) for c in CLASSES]]))[0]
        np.testing.assert_allclose(out["test"][f"hint_{k}"], np.tile(expected, (3, 1)))
    first = server["requests"][0]
    assert first["auth"] == "Bearer secret" and first["body"]["model"] == "tiny-chat" and first["body"]["echo"] is True
    hinted = [r["body"]["prompt"] for r in server["requests"] if "suggests: sport" in r["body"]["prompt"][0]]
    assert len(hinted) == 3 and all(p[1].endswith("Answer: sport") for p in hinted)
    assert any("Text: goal match team" in p[0] for p in hinted)


def test_endpoint_answer_parsing_counts_unparseable(server):
    def chat(path, body):
        assert path == "/v1/chat/completions" and body["temperature"] == 0
        prompt = body["messages"][0]["content"]
        text = "Sport." if "goal" in prompt else "Fruit" if "apple" in prompt else "maybe sport or fruit"
        return 200, {"choices": [{"message": {"role": "assistant", "content": text}}]}

    server["handle"] = chat
    endpoint = il.Endpoint(base_url=server["url"], model="m", scoring="answer", smoothing=0.03, backoff_s=0)
    out, report = il.prompted_outputs_api({"val": pd.DataFrame({"title": TEXTS})}, fields=("title",), classes=CLASSES,
                                          descriptions=DESCRIPTIONS, endpoint=endpoint)
    np.testing.assert_allclose(out["val"]["none"], [[0.98, 0.01, 0.01], [0.01, 0.98, 0.01], [1 / 3, 1 / 3, 1 / 3]])
    assert report["unparseable"]["val"] == {"none": 1, "hint_0": 1, "hint_1": 1, "hint_2": 1}
    assert il.parse_answer(" World Politics. ", CLASSES) == 2 and il.parse_answer("It is about sport!", CLASSES) == 1
    assert il.parse_answer("sports", CLASSES) is None


def test_endpoint_errors_are_clear(server, monkeypatch):
    server["handle"] = lambda path, body: (500, {"error": "overloaded"})
    endpoint = il.Endpoint(base_url=server["url"], model="m", retries=3, backoff_s=0, workers=1)
    frames = {"test": pd.DataFrame({"title": TEXTS[:1]})}
    with pytest.raises(il.EndpointError, match=r"failed after 3 attempts; last error HTTP 500.*overloaded"):
        il.prompted_outputs_api(frames, fields=("title",), classes=CLASSES, descriptions=None, endpoint=endpoint)
    assert len(server["requests"]) == 3
    server["handle"] = lambda path, body: (401, {"error": "bad key"})
    with pytest.raises(il.EndpointError, match="HTTP 401"):
        il.prompted_outputs_api(frames, fields=("title",), classes=CLASSES, descriptions=None, endpoint=endpoint)
    assert len(server["requests"]) == 4  # no retry on a client error
    server["handle"] = lambda path, body: (200, {"choices": [{"index": i, "logprobs": None} for i in range(3)]})
    with pytest.raises(il.EndpointError, match="scoring: answer"):
        il.prompted_outputs_api(frames, fields=("title",), classes=CLASSES, descriptions=None, endpoint=endpoint)
    monkeypatch.delenv("KCM_MISSING_KEY", raising=False)
    with pytest.raises(il.EndpointError, match="KCM_MISSING_KEY"):
        il.prompted_outputs_api(frames, fields=("title",), classes=CLASSES, descriptions=None,
                                endpoint=il.Endpoint(base_url=server["url"], model="m", api_key_env="KCM_MISSING_KEY"))
