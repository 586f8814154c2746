"""Text for a tuned lens: uploaded text or the model's own samples, tokenised and cut into chunks of equal
length, the last ones held out."""

from __future__ import annotations

from collections.abc import Sequence

SAMPLE_PROMPTS = ("The", "In", "Once upon a time", "A", "It is", "Today", "We", "This", "There", "When")


def own_samples(loaded, count: int, tokens: int, seed: int = 0) -> list[str]:
    """``count`` texts the model samples itself (temperature 1, no chat template) from short openings."""
    from tracing.core.decode import trace_generation
    from tracing.core.trace import DecodingSettings

    texts = []
    for index in range(count):
        settings = DecodingSettings(max_new_tokens=tokens, do_sample=True, seed=seed + index,
                                    use_chat_template=False, stop_at_eos=False)  # fmt: skip
        prompt = SAMPLE_PROMPTS[index % len(SAMPLE_PROMPTS)]
        texts.append(prompt + trace_generation(loaded, prompt, settings, attention=False).text)
    return texts


def token_chunks(tokenizer, texts: Sequence[str], length: int) -> list[list[int]]:
    """The texts' tokens (each with the tokenizer's usual specials, one after another) in chunks of ``length``
    (the remainder dropped). ValueError when there is not one chunk."""
    if length < 2:
        raise ValueError(f"chunk length must be at least 2 tokens, got {length}.")
    stream: list[int] = []
    for text in texts:
        if text.strip():
            stream += [int(i) for i in tokenizer(text)["input_ids"]]
    chunks = [stream[i : i + length] for i in range(0, len(stream) - length + 1, length)]
    if not chunks:
        raise ValueError(f"The text is {len(stream)} tokens: a tuned lens needs at least {length} to learn from.")
    return chunks


def split_heldout(chunks: list[list[int]], fraction: float = 0.1) -> tuple[list[list[int]], list[list[int]]]:
    """(training chunks, held-out chunks): the last ``fraction`` of them (at least one) held out."""
    if len(chunks) < 2:
        raise ValueError("A tuned lens needs at least two chunks of text: one to learn from and one held out.")
    held = max(1, round(len(chunks) * fraction))
    return chunks[:-held], chunks[-held:]
