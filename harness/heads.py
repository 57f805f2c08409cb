"""Task heads (classification, sentence-pair classification, regression) and the model that joins
an encoder to a head."""

from __future__ import annotations

import torch
from torch import nn

from harness.cards import TaskCard


class TaskHead(nn.Module):
    """Linear (hidden=0) or one-hidden-layer MLP head on pooled features.

    Sentence pairs are encoded jointly by the encoder (`[CLS] a [SEP] b [SEP]`), so a pair
    classifier is this head on the joint features, as in BERT and MT-DNN.

    A regression head (`regression=True`) predicts in the standard units of its targets and
    maps back, `mean + scale * z`, with `mean` and `scale` taken from the training labels by
    `calibrate` (the training loop does it before the first step). Without it a freshly
    initialised head predicts ~0 for targets centred far from 0 (STS-B: 0-5, mean 2.7), so the
    first hundreds of steps only chase the offset, and its squared error (~9) dwarfs the
    classification losses (~0.7) that share the encoder.
    """

    def __init__(
        self,
        in_dim: int,
        num_outputs: int,
        hidden: int = 0,
        dropout: float = 0.1,
        regression: bool = False,
    ):
        super().__init__()
        self.regression = regression
        if regression:
            self.register_buffer("target_mean", torch.zeros(()))
            self.register_buffer("target_scale", torch.ones(()))
            self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool))
        layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout else []
        if hidden:
            layers += [
                nn.Linear(in_dim, hidden),
                nn.GELU(),
                nn.Dropout(dropout) if dropout else nn.Identity(),
            ]
            in_dim = hidden
        layers.append(nn.Linear(in_dim, num_outputs))
        self.net = nn.Sequential(*layers)
        self.num_outputs = num_outputs

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.net(features)
        out = out.squeeze(-1) if self.num_outputs == 1 else out
        if self.regression:
            out = self.target_mean + self.target_scale * out
        return out

    def calibrate(self, labels: torch.Tensor) -> bool:
        """Take the target units from the training labels, once (a head trained before, as in
        an MT-DNN model being fine-tuned, keeps its own); True when it did."""
        if not self.regression or bool(self.calibrated):
            return False
        values = torch.as_tensor(labels, dtype=torch.float32).flatten()
        if values.numel() == 0:
            return False
        scale = values.std() if values.numel() > 1 else torch.ones(())
        self.target_mean.fill_(float(values.mean()))
        self.target_scale.fill_(float(scale) if float(scale) > 0 else 1.0)
        self.calibrated.fill_(True)
        return True

    def loss_weight(self) -> float:
        """1 / scale²: squared error in the targets' standard units, on the scale of a
        classification loss whatever the targets' units."""
        return 1.0 / float(self.target_scale) ** 2 if self.regression else 1.0


def head_kind(card: TaskCard) -> str:
    """MT-DNN's task types: single-sentence/image classification, pairwise classification, regression."""
    if card.problem in ("regression", "multiple_choice"):
        return card.problem
    return "pair_classification" if card.is_pair else "classification"


def build_head(card: TaskCard, in_dim: int, hidden: int = 0, dropout: float = 0.1) -> TaskHead:
    """The head for a task. A multiple-choice head scores each (context, choice) pair with one
    output shared across choices: on features (batch, choices, dim) it gives the logits
    (batch, choices) that a softmax runs over, as `AutoModelForMultipleChoice` does."""
    return TaskHead(
        in_dim,
        card.head_outputs,
        hidden=hidden,
        dropout=dropout,
        regression=card.problem == "regression",
    )


def task_head(model: nn.Module, task: str) -> TaskHead | None:
    """The `TaskHead` serving `task` in `model`: `model.head(task)` for a multi-head model,
    `model.head` for a one-head one; None for a model built otherwise."""
    head = getattr(model, "head", None)
    if getattr(model, "takes_task", False) and callable(head):
        try:
            head = head(task)
        except KeyError:
            return None
    return head if isinstance(head, TaskHead) else None


def loss_for(card: TaskCard) -> nn.Module:
    return nn.MSELoss() if card.problem == "regression" else nn.CrossEntropyLoss()


def predictions_from(card: TaskCard, outputs: torch.Tensor) -> torch.Tensor:
    """Class indices for classification, values for regression."""
    return outputs.float() if card.problem == "regression" else outputs.argmax(-1)


class EncoderWithHead(nn.Module):
    """A backbone encoder and a task head: a batch in, logits (or values) out."""

    def __init__(self, encoder: nn.Module, head: TaskHead):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(**inputs))
