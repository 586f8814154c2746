"""One prompt through two models, moment by moment.

The lead model decodes (``trace_generation``); the other model, the follower, reads the same tokens in one
teacher-forced pass, so moment i of both traces is the same position of the same text. Per moment the two
full next-token distributions are compared (KL both ways, accumulated in float64), with each model's
greedy pick and the tokens only one side has in its top-k. Optionally the follower also decodes on its own
path, and the first moment where the two free generations part is reported.

Two different zoo entries (a base and the base with an adapter included) must be two loaded models: a
comparison refuses two entries that share one model object, since it would then compare a model with itself.
"""

from __future__ import annotations

import time

import torch

from tracing.core.decode import check_fits, trace_generation, trace_info
from tracing.core.distribution import describe_step, step_moment
from tracing.core.sampling import forced_choice
from tracing.core.teacher_forcing import forced_pass
from tracing.core.tokens import readable_tokens
from tracing.core.trace import DecodingSettings, Trace
from tracing.experiments.comparison import DIFF_TOP_K, SIDES, Comparison, MomentDifference, first_divergence


def check_comparable(loaded_a, loaded_b) -> None:
    """Raises ValueError when two models cannot be compared token by token, or are one model twice under
    two names (a base and its adapter wrapped around the same object)."""
    two_entries = loaded_a is not loaded_b and loaded_a.identity != loaded_b.identity
    if two_entries and loaded_a.base_model is loaded_b.base_model:
        raise ValueError(
            f"{loaded_a.id} and {loaded_b.id} share one model object, so the comparison would compare a "
            "model with itself. Load each entry separately."
        )
    tok_a, tok_b = loaded_a.tokenizer, loaded_b.tokenizer
    if tok_a is not tok_b and tok_a.get_vocab() != tok_b.get_vocab():
        raise ValueError(
            f"{loaded_a.id} and {loaded_b.id} use different vocabularies, so their moments cannot line up. "
            "Compare models that share a tokenizer (a base and its fine-tunes, or one family)."
        )


def follower_trace(loaded, lead: Trace, attention: bool = True) -> tuple[Trace, torch.Tensor]:
    """The trace of ``loaded`` reading ``lead``'s prompt and tokens (one teacher-forced pass), and its
    logits ``[moments, vocab]`` (float32, CPU)."""
    check_fits(loaded, lead.prompt_len, max(len(lead.moments), 1))
    forced = forced_pass(loaded, lead.all_ids, lead.prompt_len, attention=attention)
    per_moment = forced.seconds / max(len(lead.moments), 1)
    moments = [
        step_moment(
            loaded.tokenizer,
            i,
            describe_step(logits, lead.settings, forced_choice(logits, lead.settings, lead_moment.token_id)),
            None if forced.attention is None else forced.attention[i],
            per_moment,
        )
        for i, (logits, lead_moment) in enumerate(zip(forced.logits, lead.moments, strict=True))
    ]
    identity = loaded.identity
    trace = Trace(
        model_id=identity.base,
        adapter=identity.adapter,
        prompt=lead.prompt,
        rendered_prompt=lead.rendered_prompt,
        prompt_ids=list(lead.prompt_ids),
        prompt_tokens=readable_tokens(loaded.tokenizer, lead.prompt_ids),
        settings=lead.settings,
        moments=moments,
        stop_reason=lead.stop_reason,
        text=lead.text,
        prefill_seconds=forced.seconds,
        info=trace_info(loaded, int(forced.logits.shape[-1])) | {"teacher_forced_on": lead.identity.name},
    )
    return trace, forced.logits


def moment_differences(logits_a: torch.Tensor, logits_b: torch.Tensor, top_k: int) -> list[MomentDifference]:
    """Per row of two ``[moments, vocab]`` logit arrays: KL both ways (float64), greedy picks, top-k sets."""
    if logits_a.shape != logits_b.shape:
        raise ValueError(f"the two models' logits differ in shape: {tuple(logits_a.shape)} vs {tuple(logits_b.shape)}")
    log_a = torch.log_softmax(logits_a.double(), dim=-1)
    log_b = torch.log_softmax(logits_b.double(), dim=-1)
    kl_a_b = (log_a.exp() * (log_a - log_b)).sum(-1).clamp_min(0.0).tolist()
    kl_b_a = (log_b.exp() * (log_b - log_a)).sum(-1).clamp_min(0.0).tolist()
    greedy_a, greedy_b = log_a.argmax(-1).tolist(), log_b.argmax(-1).tolist()
    k = min(top_k, log_a.shape[-1])
    top_a, top_b = log_a.topk(k, dim=-1).indices.tolist(), log_b.topk(k, dim=-1).indices.tolist()
    return [
        MomentDifference(
            index=i,
            kl_a_b=kl_a_b[i],
            kl_b_a=kl_b_a[i],
            greedy_a=int(greedy_a[i]),
            greedy_b=int(greedy_b[i]),
            only_in_a=[t for t in top_a[i] if t not in set(top_b[i])],
            only_in_b=[t for t in top_b[i] if t not in set(top_a[i])],
        )
        for i in range(log_a.shape[0])
    ]


def compare_traces(
    loaded_a,
    loaded_b,
    prompt: str,
    settings: DecodingSettings | None = None,
    lead: str = "a",
    own_path: bool = False,
    top_k: int = DIFF_TOP_K,
) -> Comparison:
    """Traces ``prompt`` with the lead model, reads the same tokens with the other, and compares each moment.

    ``own_path`` also lets the follower decode freely (same settings) to find where the two generations part.
    Raises ValueError for bad settings, an unknown lead, or models that cannot be compared.
    """
    if lead not in SIDES:
        raise ValueError(f"lead must be 'a' or 'b', got {lead!r}.")
    settings = (settings or DecodingSettings()).validate()
    check_comparable(loaded_a, loaded_b)
    leader, other = (loaded_a, loaded_b) if lead == "a" else (loaded_b, loaded_a)
    started = time.perf_counter()
    lead_trace = trace_generation(leader, prompt, settings)
    if not lead_trace.moments:
        raise ValueError("The lead model generated no tokens, so there is nothing to compare.")
    # The lead's full distributions come from the same kind of pass as the follower's, so the KL compares
    # like with like (the decoded moments used the KV cache; the numbers agree to float rounding).
    lead_logits = forced_pass(leader, lead_trace.all_ids, lead_trace.prompt_len, attention=False).logits
    other_trace, other_logits = follower_trace(other, lead_trace)
    logits_a, logits_b = (lead_logits, other_logits) if lead == "a" else (other_logits, lead_logits)
    moments = moment_differences(logits_a, logits_b, top_k)
    free = trace_generation(other, prompt, settings) if own_path else None
    trace_a, trace_b = (lead_trace, other_trace) if lead == "a" else (other_trace, lead_trace)
    return Comparison(
        lead=lead,
        trace_a=trace_a,
        trace_b=trace_b,
        moments=moments,
        first_greedy_divergence=next((m.index for m in moments if m.greedy_differs), None),
        top_k=top_k,
        own_path=free,
        first_path_divergence=None if free is None else first_divergence(lead_trace.generated_ids, free.generated_ids),
        info={"seconds": time.perf_counter() - started},
    )
