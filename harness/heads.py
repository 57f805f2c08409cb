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
    """

    def __init__(self, in_dim: int, num_outputs: int, hidden: int = 0, dropout: float = 0.1):
        super().__init__()
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
        return out.squeeze(-1) if self.num_outputs == 1 else out


def head_kind(card: TaskCard) -> str:
    """MT-DNN's task types: single-sentence/image classification, pairwise classification, regression."""
    if card.problem == "regression":
        return "regression"
    return "pair_classification" if card.is_pair else "classification"


def build_head(card: TaskCard, in_dim: int, hidden: int = 0, dropout: float = 0.1) -> TaskHead:
    return TaskHead(in_dim, card.num_labels, hidden=hidden, dropout=dropout)


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
