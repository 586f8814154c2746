"""A lens report, torch-free: per layer, how far the logit lens and the tuned lens are from the model's own
output on held-out text (KL in nats per token) and how often their top token is the model's."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class LensReport:
    """Rows as a lens reading's: row 0 the embeddings, the last row the final residual (the output itself)."""

    model: str
    layer_names: list[str]  # [layers + 1]
    logit_kl: list[float]  # [layers + 1]
    tuned_kl: list[float]
    logit_top1: list[float]  # the share of positions whose top token is the model's
    tuned_top1: list[float]
    tokens: int  # held-out positions read
    trained: dict  # the lens's steps and tokens

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LensReport:
        return cls(**data)

    def lowered_everywhere(self) -> bool:
        """Whether the tuned lens is closer to the output than the logit lens at every layer but the last."""
        return all(t < g for t, g in zip(self.tuned_kl[:-1], self.logit_kl[:-1], strict=True))
