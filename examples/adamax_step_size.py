"""How long are Adamax's steps against Adam's at the harness's CPU budget? A plain-torch replica
of the recipe (MiniLM, mean pooling, linear heads with dropout 0.1, batch 16, lr 1e-4, linear
decay with 10 % warm-up, clip 1.0, weight decay 0.01, proportional schedule over the tasks
given) that prints per epoch the dev score, the prediction's mean and spread against the
labels', the pre-clip gradient norm and the median per-parameter step ratio on the encoder
(|m|/u for Adamax, |m|/sqrt(v) for Adam: the step is the learning rate times it).

    TRANSFERBENCH_DATA_DIR=../shared/data python examples/adamax_step_size.py adamax raw stsb
    (optimizer: adamax | adamw; raw | std: regression targets in standard units; tasks: stsb,rte,mrpc)

About 5 minutes per call on 2 cores for STS-B alone."""

import math
import os
import random
import sys

import numpy as np
import pandas as pd
import torch
from scipy.stats import pearsonr
from torch import nn
from transformers import AutoModel, AutoTokenizer, get_scheduler

torch.set_num_threads(1)
D = os.environ.get("TRANSFERBENCH_DATA_DIR", "../shared/data")
M = f"{D}/models/all-MiniLM-L6-v2"
opt_kind = sys.argv[1]  # adamax | adamw
standardise = sys.argv[2] == "std"
tasks_arg = sys.argv[3].split(",")
N = 800


def read(task):
    """(sentences a, sentences b, labels) of N training rows and up to 400 dev rows."""
    import csv

    folder, enc_, cols = {
        "stsb": ("STS-B", None, ("sentence1", "sentence2", "score")),
        "rte": ("RTE", None, ("sentence1", "sentence2", "label")),
        "mrpc": ("MRPC", "utf-8-sig", ("#1 String", "#2 String", "Quality")),
    }[task]

    def columns(d):
        y = d[cols[2]]
        y = (
            (y == "not_entailment").astype(int)
            if task == "rte"
            else y.astype(float if reg[task] else int)
        )
        return list(d[cols[0]]), list(d[cols[1]]), y.values

    out = []
    for name, n in (("train", N), ("dev", 400)):
        d = pd.read_csv(
            f"{D}/glue_data/{folder}/{name}.tsv",
            sep="\t",
            quoting=csv.QUOTE_NONE,
            on_bad_lines="skip",
            encoding=enc_,
        ).dropna()
        out.append(columns(d.sample(n=min(n, len(d)), random_state=0)))
    return out


reg = {"stsb": True, "rte": False, "mrpc": False}

tok = AutoTokenizer.from_pretrained(M)
torch.manual_seed(0)
random.seed(0)
enc = AutoModel.from_pretrained(M)
data = {t: read(t) for t in tasks_arg}
stats = {t: (float(data[t][0][2].mean()), float(data[t][0][2].std())) for t in tasks_arg}
heads = nn.ModuleDict(
    {t: nn.Sequential(nn.Dropout(0.1), nn.Linear(384, 1 if reg[t] else 2)) for t in tasks_arg}
)


def pool(a, b):
    x = tok(a, b, truncation=True, max_length=128, padding=True, return_tensors="pt")
    h = enc(**x).last_hidden_state
    m = x["attention_mask"].unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1)


def out(t, a, b):
    o = heads[t](pool(a, b))
    if reg[t]:
        o = o.squeeze(-1)
        if standardise:
            mu, sd = stats[t]
            o = mu + sd * o
    return o


def loss_of(t, o, y):
    if reg[t]:
        loss = ((o - torch.tensor(y, dtype=torch.float32)) ** 2).mean()
        if standardise:
            loss = loss / stats[t][1] ** 2
        return loss
    return nn.functional.cross_entropy(o, torch.tensor(y))


params = list(enc.parameters()) + list(heads.parameters())
cls = torch.optim.Adamax if opt_kind == "adamax" else torch.optim.AdamW
opt = cls(params, lr=1e-4, weight_decay=0.01)
bs, epochs = 16, 3
per = {t: math.ceil(N / bs) for t in tasks_arg}
total = sum(per.values()) * epochs
sch = get_scheduler("linear", opt, num_warmup_steps=int(0.1 * total), num_training_steps=total)
enc_params = list(enc.parameters())
step = 0
log = []
for ep in range(epochs):
    plan = [t for t in tasks_arg for _ in range(per[t])]
    random.shuffle(plan)
    orders = {t: np.random.RandomState(ep).permutation(N) for t in tasks_arg}
    pos = dict.fromkeys(tasks_arg, 0)
    for t in plan:
        idx = orders[t][pos[t] : pos[t] + bs]
        pos[t] += bs
        a, b, y = data[t][0]
        enc.train(), heads.train()
        o = out(
            t,
            [a[i] for i in idx],
            [b[i] for i in idx],
        )
        loss = loss_of(t, o, y[idx])
        opt.zero_grad()
        loss.backward()
        gn = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
        opt.step()
        sch.step()
        step += 1
        # effective relative step on the encoder: |update| / lr, median over encoder tensors' first 2000 entries
        ratio = []
        for p in enc_params[::10]:
            s = opt.state[p]
            if opt_kind == "adamax":
                r = (s["exp_avg"].abs() / s["exp_inf"]).flatten()[:2000]
            else:
                r = (s["exp_avg"].abs() / (s["exp_avg_sq"].sqrt() + 1e-8)).flatten()[:2000]
            ratio.append(r)
        ratio = float(torch.cat(ratio).median())
        log.append((step, t, float(loss), gn, ratio))
    # eval on STS-B dev
    enc.eval(), heads.eval()
    with torch.no_grad():
        for t in tasks_arg:
            a, b, y = data[t][1]
            preds = torch.cat([out(t, a[i : i + 64], b[i : i + 64]) for i in range(0, len(a), 64)])
            if reg[t]:
                p = preds.numpy()
                print(
                    f"ep{ep + 1} {t}: pearson {pearsonr(p, y)[0]:.3f} pred mean {p.mean():.2f} sd {p.std():.2f} | label mean {y.mean():.2f} sd {y.std():.2f}",
                    flush=True,
                )
            else:
                print(
                    f"ep{ep + 1} {t}: acc {(preds.argmax(-1).numpy() == y).mean():.3f}", flush=True
                )
    for t in tasks_arg:
        rows = [r for r in log if r[1] == t and r[0] > step - sum(per.values())]
        print(
            f"  ep{ep + 1} {t}: loss {np.mean([r[2] for r in rows]):.3f} pre-clip grad norm median {np.median([r[3] for r in rows]):.2f} "
            f"clipped {np.mean([r[3] > 1 for r in rows]):.0%}  |m|/u median {np.median([r[4] for r in rows]):.4f}",
            flush=True,
        )
