"""Task2Vec on reference features: the diagonal Fisher information of a fixed probe network.

Probe: x [d] -> z = relu(W1 x + b1) [h=32] -> W2 z + b2. (W1, b1) come from a fixed seed and are
the SAME for every task with the same d, so embeddings share coordinates; only the output layer
is fitted to the task (classification: cross-entropy; regression: MSE on z-scored targets).
Embedding = diagonal Fisher of W1, with labels sampled from the model's predictive distribution
(categorical, or N(f(x), 1) for regression), averaged over rows:

    F[j, k] = mean_i E_{y ~ p(.|x_i)} (dL_i/dpre_ij)² x_ik²      (per-row grad of W1 = g ⊗ x)
    d(Fa, Fb) = cosine distance(Fa / (Fa + Fb), Fb / (Fa + Fb));  similarity = -d
"""

from __future__ import annotations

import numpy as np
import torch

from harness.similarity.registry import MeasureSpec, TaskView, register_measure

HIDDEN = 32
FIT_STEPS = 300
FIT_LR = 0.05
WEIGHT_DECAY = 1e-3  # (keeps the head finite on separable tasks, so the Fisher does not vanish)
MC_SAMPLES = 8  # sampled labels per row
PROBE_SEED = 0  # the fixed first layer: the same for every task
EPS = 1e-8


def _probe_layer(d: int, hidden: int = HIDDEN) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed first layer (W1 [h, d], b1 [h]): He-normal weights, small biases, seed 0."""
    g = torch.Generator().manual_seed(PROBE_SEED)
    w1 = torch.randn(hidden, d, generator=g, dtype=torch.float64) * (2.0 / d) ** 0.5
    b1 = torch.randn(hidden, generator=g, dtype=torch.float64) * 0.1
    return w1, b1


def task2vec_embedding(
    features: np.ndarray,
    labels: np.ndarray,
    problem: str = "classification",
    num_classes: int = 0,
    seed: int = 0,
) -> np.ndarray:
    """Task2Vec embedding [h * d]: the Monte-Carlo diagonal Fisher of the probe's W1.

    `seed` drives the head's initialisation and the label sampling (the probe layer is fixed).
    """
    x = torch.as_tensor(np.asarray(features, dtype=np.float64))
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"task2vec_embedding needs features [n >= 2, d], got {tuple(x.shape)}")
    n, d = x.shape
    y_np = np.asarray(labels)
    if y_np.shape != (n,):
        raise ValueError(f"task2vec_embedding: labels shape {y_np.shape} != ({n},)")
    classification = problem == "classification"
    g = torch.Generator().manual_seed(int(seed))
    w1, b1 = _probe_layer(d)
    pre = x @ w1.T + b1  # [n, h], fixed
    z = torch.relu(pre)
    active = (pre > 0).to(torch.float64)

    if classification:
        y = torch.as_tensor(y_np.astype(np.int64))
        out_dim = max(int(num_classes), int(y.max()) + 1, 2)
    else:
        yf = torch.as_tensor(y_np.astype(np.float64))
        y = (yf - yf.mean()) / (yf.std() if yf.std() > 0 else 1.0)
        out_dim = 1

    head = torch.nn.Linear(HIDDEN, out_dim, dtype=torch.float64)
    with torch.no_grad():
        head.weight.copy_(torch.randn(out_dim, HIDDEN, generator=g, dtype=torch.float64) * 0.01)
        head.bias.zero_()
    opt = torch.optim.Adam(head.parameters(), lr=FIT_LR, weight_decay=WEIGHT_DECAY)
    for _ in range(FIT_STEPS):
        opt.zero_grad()
        out = head(z)
        if classification:
            loss = torch.nn.functional.cross_entropy(out, y)
        else:
            loss = torch.nn.functional.mse_loss(out[:, 0], y)
        loss.backward()
        opt.step()

    with torch.no_grad():
        out = head(z)
        w2 = head.weight  # [out_dim, h]
        if classification:
            p = torch.softmax(out, dim=1)  # [n, C]
            ys = torch.multinomial(p, MC_SAMPLES, replacement=True, generator=g)  # [n, S]
            # dL/dlogits = p - onehot(y_sampled), per sample: [n, S, C]
            g_out = p[:, None, :] - torch.nn.functional.one_hot(ys, out_dim).to(torch.float64)
        else:
            # y ~ N(f(x), 1): dL/df = f - y = -eps, eps ~ N(0, 1)
            g_out = -torch.randn(n, MC_SAMPLES, 1, generator=g, dtype=torch.float64)
        g_pre = (g_out @ w2) * active[:, None, :]  # [n, S, h]
        g2 = (g_pre**2).mean(dim=1)  # [n, h], average over the sampled labels
        fisher = g2.T @ (x**2) / n  # [h, d]
    return fisher.reshape(-1).numpy()


def task2vec_distance(ea: np.ndarray, eb: np.ndarray) -> float:
    """Normalised cosine distance: cosine distance of ea/(ea+eb) and eb/(ea+eb), in [0, 1]."""
    ea, eb = np.asarray(ea, dtype=np.float64), np.asarray(eb, dtype=np.float64)
    if ea.shape != eb.shape:
        raise ValueError(f"task2vec_distance: shape mismatch {ea.shape} vs {eb.shape}")
    total = ea + eb + EPS
    u, v = ea / total, eb / total
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0.0 or nv == 0.0:
        raise ValueError("task2vec_distance: an embedding is zero")
    return float(1.0 - (u @ v) / (nu * nv))


def task2vec_similarity(a: TaskView, b: TaskView) -> float:
    """-task2vec_distance of the two tasks' embeddings (same reference encoder, seed 0)."""
    ea = task2vec_embedding(a.features, a.labels, a.problem, a.num_classes)
    eb = task2vec_embedding(b.features, b.labels, b.problem, b.num_classes)
    return -task2vec_distance(ea, eb)


register_measure(
    MeasureSpec(
        name="task2vec",
        kind="pair",
        fn=task2vec_similarity,
        description="negated normalised cosine distance between Task2Vec embeddings (Monte-Carlo "
        "diagonal Fisher of a fixed MLP probe on reference features)",
        cheap=False,
        reference="Achille et al. 2019, ICCV",
    )
)
