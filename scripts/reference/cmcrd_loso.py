#!/usr/bin/env python3
"""An independent PyTorch run of the synthetic SEED-IV benchmark (issue 6, quality bar 1).

Question it answers: is CMCRD's small margin over EEG-only on our synthetic data a property of the data, or of
our TypeScript training code (trainer, memory banks, negatives, stop-gradient wiring, teacher, evaluation)? This
script shares no code with the toolkit: it reads the dataset as distributed (scipy.io.loadmat on the SEED-IV
layout written by `cmcrd dataset synth`), and re-implements from ../shared/docs/method.md the protocol (LOSO,
z-score with training statistics, a validation split of whole training trials per class, best-validation
epoch), the MLP, the eye teacher (CE + MCC), and the students EEG-only, KD, CRD and CMCRD. If our code had a
bug that costs CMCRD its advantage, this run would show the advantage; if it shows the same picture, the
cause is in the data model.

Usage (Debian: apt-get install python3-torch python3-scipy):
    /usr/bin/python3 scripts/reference/cmcrd_loso.py --root D --out R/pytorch.json \
        [--methods eeg-only,kd,crd,cmcrd] [--seeds 2022,2023,2024] [--epochs 20] [--warmup 5] [--init pytorch|glorot] [--evaluation honest|authors]
Prints one line per fold × seed and a table with paired CMCRD − X differences (fold means over seeds,
Student-t 95 % interval), and writes every accuracy to --out.

`--evaluation authors` evaluates as the authors' distill.py does instead (the held-out subject z-scored with its own
statistics, no validation split, the epoch of best training accuracy kept) and also reports each student's last
epoch and its best epoch on the test subject: an oracle, there only to measure how much such selection inflates
each method (docs/cmcrd-benchmark.md, "Under the authors' evaluation").
"""
import argparse
import copy
import json
import math
import os
import sys
import time

# One thread for everything, set before numpy/torch load their BLAS: Debian's torch uses the system OpenBLAS,
# whose thread pool torch.set_num_threads does not control (on a loaded 2-core box it spins, ~9× slower).
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import numpy as np
import scipy.io as sio
import scipy.stats as st
import torch
import torch.nn as nn
import torch.nn.functional as F

# SEED-IV trial labels per session (../shared/docs/datasets.md), identical for every subject.
LABELS = {
    1: [1, 2, 3, 0, 2, 0, 0, 1, 0, 1, 2, 1, 1, 1, 2, 3, 2, 2, 3, 3, 0, 3, 0, 3],
    2: [2, 1, 3, 0, 0, 2, 0, 2, 3, 3, 2, 3, 2, 0, 1, 1, 2, 1, 0, 3, 0, 1, 3, 1],
    3: [1, 2, 2, 1, 3, 3, 3, 1, 1, 2, 1, 0, 2, 3, 3, 0, 2, 3, 0, 0, 2, 0, 1, 0],
}
CLASSES = 4


def load(root, feature):
    """Rows of (EEG 62×5 channel-major, eye 31, label, subject, session, trial)."""
    eeg, eye, lab, subj, sess, trial = [], [], [], [], [], []
    eeg_root = os.path.join(root, 'eeg_feature_smooth')
    if not os.path.isdir(eeg_root):
        sys.exit(f'{root}: no eeg_feature_smooth folder (expected the SEED-IV layout)')
    for s in sorted(os.listdir(eeg_root), key=int):
        for name in sorted(os.listdir(os.path.join(eeg_root, s))):
            subject = int(name.split('_')[0])
            m = sio.loadmat(os.path.join(eeg_root, s, name))
            e = sio.loadmat(os.path.join(root, 'eye_feature_smooth', s, name))
            for t in range(1, 25):
                de = m[f'{feature}{t}']  # 62 × W × 5
                ey = e[f'eye_{t}']  # 31 × W
                w = de.shape[1]
                if ey.shape[1] != w:
                    sys.exit(f'{name} trial {t}: EEG has {w} windows, eye {ey.shape[1]}')
                eeg.append(np.transpose(de, (1, 0, 2)).reshape(w, -1))
                eye.append(ey.T)
                lab += [LABELS[int(s)][t - 1]] * w
                subj += [subject] * w
                sess += [int(s)] * w
                trial += [t] * w
    cat = lambda a: np.concatenate(a).astype(np.float32)
    return cat(eeg), cat(eye), np.array(lab), np.array(subj), np.array(sess), np.array(trial)


def validation_mask(lab, subj, sess, trial, train_idx, fraction, seed):
    """Whole training trials, `fraction` of each class's trials (at least one), chosen with the seed."""
    rng = np.random.RandomState(seed)
    keys = {}
    for i in train_idx:
        keys.setdefault(lab[i], set()).add((subj[i], sess[i], trial[i]))
    chosen = set()
    for c in sorted(keys):
        trials = sorted(keys[c])
        rng.shuffle(trials)
        k = min(len(trials) - 1, max(1, round(len(trials) * fraction)))
        chosen.update(trials[:k])
    return np.array([(subj[i], sess[i], trial[i]) in chosen for i in train_idx])


class Mlp(nn.Module):
    """method.md MLP: four Linear–BN–ReLU blocks of 128 (f1 after the second, f2 after the fourth), Linear head.
    init 'pytorch' keeps nn.Linear's default U(±1/√fan_in); 'glorot' is Glorot-uniform weights and zero biases."""

    def __init__(self, d, c, h=128, init='pytorch'):
        super().__init__()
        blk = lambda i, o: nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU())
        self.a = nn.Sequential(blk(d, h), blk(h, h))
        self.b = nn.Sequential(blk(h, h), blk(h, h))
        self.head = nn.Linear(h, c)
        if init == 'glorot':
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        f1 = self.a(x)
        f2 = self.b(f1)
        return f1, f2, self.head(f2)


def entropy_weights(p):
    h = -(p * torch.log(p + 1e-5)).sum(1)
    u = 1 + torch.exp(-h)
    return len(p) * u / u.sum()


def mcc_loss(logits, T=2.5):
    p = F.softmax(logits / T, 1)
    w = entropy_weights(p)
    cc = p.t() @ (w[:, None] * p)
    cc = cc / cc.sum(0, keepdim=True)
    return (cc.sum() - torch.trace(cc)) / logits.shape[1]


def kd_loss(ps, pt, T=4.0):
    return T * T * F.kl_div(F.log_softmax(ps / T, 1), F.softmax(pt / T, 1), reduction='batchmean')


class Contrast:
    """CRD (weights/sign/stop-gradients off, momentum 0.5) or CMCRD (on, momentum 0.05), method.md steps 1–7."""

    def __init__(self, labels, cand_mask, dim, cmcrd, gen, K=1000, e=128, tau=0.07):
        n = len(labels)
        self.n, self.tau, self.cmcrd = n, tau, cmcrd
        self.m = 0.05 if cmcrd else 0.5
        self.emb_s, self.emb_t = nn.Linear(dim, e), nn.Linear(dim, e)
        sigma = 1 / math.sqrt(e / 3)
        self.mem_s = (torch.rand(n, e, generator=gen) * 2 - 1) * sigma
        self.mem_t = (torch.rand(n, e, generator=gen) * 2 - 1) * sigma
        cand = np.nonzero(cand_mask)[0]
        pools = [cand[labels[cand] != c] for c in range(CLASSES)]
        self.K = min(K, min(len(p) for p in pools))
        # Other-class pools padded to one [C, longest] table: a draw for class c is table[c, ⌊u·len_c⌋].
        self.plen = torch.tensor([len(p) for p in pools])
        self.table = torch.zeros(CLASSES, int(self.plen.max()), dtype=torch.long)
        for c, p in enumerate(pools):
            self.table[c, :len(p)] = torch.tensor(p)
        self.gen = gen
        self.Z = None
        self.last = None

    def params(self):
        return [*self.emb_s.parameters(), *self.emb_t.parameters()]

    def loss(self, f2, ft, logits, tlogits, y, idx):
        b = len(idx)
        with torch.no_grad():
            u = torch.rand(b, self.K, generator=self.gen)
            neg = self.table[y[:, None], (u * self.plen[y][:, None]).long()]
            all_idx = torch.cat([idx[:, None], neg], 1)
            if self.cmcrd:
                s_right = logits.argmax(1) == y
                t_right = tlogits.argmax(1) == y
                sign = t_right.float() * 2 - 1
                w = entropy_weights(F.softmax(tlogits, 1))
                keep_s = (~(s_right & ~t_right)).float()[:, None]
                keep_t = (~(t_right & ~s_right)).float()[:, None]
            else:
                sign = w = torch.ones(b)
                keep_s = keep_t = torch.ones(b, 1)
        zs = F.normalize(self.emb_s(f2), dim=1)
        zt = F.normalize(self.emb_t(ft), dim=1)
        zs_in = zs * keep_s + zs.detach() * (1 - keep_s)
        zt_in = zt * keep_t + zt.detach() * (1 - keep_t)
        out_s = torch.exp(torch.bmm(self.mem_t[all_idx], zs_in[:, :, None]).squeeze(2) / self.tau)
        out_t = torch.exp(torch.bmm(self.mem_s[all_idx], zt_in[:, :, None]).squeeze(2) / self.tau)
        if self.Z is None:
            self.Z = (out_s.mean().item() * self.n, out_t.mean().item() * self.n)
        cst = self.K / self.n

        def nce(p):
            p = p * w[:, None]
            per = torch.log(p[:, 0] / (p[:, 0] + cst + 1e-7)) + torch.log(cst / (p[:, 1:] + cst + 1e-7)).sum(1)
            return -(per * sign).mean()

        self.last = (idx, zs.detach(), zt.detach())
        return nce(out_s / self.Z[0]) + nce(out_t / self.Z[1])

    def update(self):
        idx, zs, zt = self.last
        with torch.no_grad():
            self.mem_s[idx] = F.normalize(self.mem_s[idx] * self.m + zs * (1 - self.m), dim=1)
            self.mem_t[idx] = F.normalize(self.mem_t[idx] * self.m + zt * (1 - self.m), dim=1)


def fit(net, x, y, train_mask, seed, a, extra=None, extra_params=(), after=None, mcc=False, test=None, curve=None):
    """AdamW, linear warm-up then half-cosine per step, batch 32; keeps the best-validation epoch, or with no
    validation rows (the authors' evaluation) the epoch of best training accuracy, as the authors' train.py does.
    With `test` = (x, y), appends each epoch's test accuracy to `curve` (diagnostic only; never used to select)."""
    gen = torch.Generator().manual_seed(seed)
    tr = torch.tensor(np.nonzero(train_mask)[0])
    va = torch.tensor(np.nonzero(~train_mask)[0])
    if len(va) == 0:
        va = tr
    opt = torch.optim.AdamW([*net.parameters(), *extra_params], lr=a.lr, weight_decay=a.weight_decay)
    spe = math.ceil(len(tr) / a.batch)
    total, warm = a.epochs * spe, min(a.warmup, a.epochs) * spe
    best, best_state, step = -1.0, None, 0
    for _ in range(a.epochs):
        net.train()
        order = tr[torch.randperm(len(tr), generator=gen)]
        for s in range(0, len(order), a.batch):
            idx = order[s:s + a.batch]
            if len(idx) < 2:
                continue
            lr = a.lr * (step + 1) / warm if step < warm else a.lr * 0.5 * (1 + math.cos(math.pi * min(1, (step - warm) / max(1, total - warm))))
            step += 1
            for g in opt.param_groups:
                g['lr'] = lr
            f1, f2, logits = net(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            if mcc:
                loss = loss + mcc_loss(logits)
            if extra:
                loss = loss + extra(f1, f2, logits, y[idx], idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if after:
                after()
        net.eval()
        with torch.no_grad():
            acc = (net(x[va])[2].argmax(1) == y[va]).float().mean().item()
            if test is not None:
                curve.append((net(test[0])[2].argmax(1) == test[1]).float().mean().item())
        if acc > best:
            best, best_state = acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    net.eval()
    return net


def zscore(x, train_idx, test_idx=None):
    """Every row z-scored with the training rows' statistics; with `test_idx`, the test rows instead with their
    own (the authors' distill.py fits a separate StandardScaler on the held-out subject)."""
    def stats(idx):
        mu, sd = x[idx].mean(0), x[idx].std(0)
        sd[sd == 0] = 1
        return mu, sd
    mu, sd = stats(train_idx)
    out = (x - mu) / sd
    if test_idx is not None:
        mu, sd = stats(test_idx)
        out[test_idx] = (x[test_idx] - mu) / sd
    return torch.tensor(out, dtype=torch.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--root', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--methods', default='eeg-only,kd,crd,cmcrd')
    ap.add_argument('--seeds', default='2022,2023,2024')
    ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--weight-decay', type=float, default=1e-3)
    ap.add_argument('--val-fraction', type=float, default=0.2)
    ap.add_argument('--feature', default='de_LDS')
    ap.add_argument('--init', choices=['pytorch', 'glorot'], default='pytorch', help='Linear initialisation')
    ap.add_argument('--evaluation', choices=['honest', 'authors'], default='honest',
                    help="'authors': what kssyyy/CMCRD's distill.py does, i.e. the held-out subject z-scored with its own "
                         "statistics, no validation split, and besides the last epoch's test accuracy also the best epoch's "
                         "(selected on the test subject)")
    a = ap.parse_args()
    methods = a.methods.split(',')
    for m in methods:
        if m not in ('eeg-only', 'kd', 'crd', 'cmcrd'):
            sys.exit(f'--methods: unknown method "{m}" (eeg-only, kd, crd, cmcrd)')
    seeds = [int(s) for s in a.seeds.split(',')]
    torch.set_num_threads(1)
    eeg, eye, lab, subj, sess, trial = load(a.root, a.feature)
    subjects = sorted(set(subj.tolist()))
    print(f'{a.root}: {len(lab)} windows, {len(subjects)} subjects; LOSO, MLP, seeds {seeds}, {a.epochs} epochs', flush=True)
    need_teacher = any(m != 'eeg-only' for m in methods)
    acc = {m: {} for m in (['eye-only'] if need_teacher else []) + methods}
    # Students' test accuracy at the last epoch and at the best epoch chosen on the test subject (an oracle:
    # reported only to measure how much such selection inflates each method).
    last = {m: {} for m in methods}
    oracle = {m: {} for m in methods}
    t0 = time.time()
    for s in subjects:
        tr_idx = np.nonzero(subj != s)[0]
        te_idx = np.nonzero(subj == s)[0]
        own = te_idx if a.evaluation == 'authors' else None
        xe, xy = zscore(eeg, tr_idx, own), zscore(eye, tr_idx, own)
        y = torch.tensor(lab)
        for seed in seeds:
            # Matrices of the fold: training rows first (positions 0..n−1), then the test rows.
            if a.evaluation == 'authors':
                train_mask = np.ones(len(tr_idx), dtype=bool)
            else:
                train_mask = ~validation_mask(lab, subj, sess, trial, tr_idx, a.val_fraction, seed)
            Xe_tr, Xe_te, Xy_tr, Xy_te = xe[tr_idx], xe[te_idx], xy[tr_idx], xy[te_idx]
            y_tr, y_te = y[tr_idx], y[te_idx]
            if need_teacher:
                torch.manual_seed(seed)
                teacher = fit(Mlp(eye.shape[1], CLASSES, init=a.init), Xy_tr, y_tr, train_mask, seed, a, mcc=True)
                with torch.no_grad():
                    _, t_f2, t_logits = teacher(Xy_tr)
                    acc['eye-only'].setdefault(s, []).append((teacher(Xy_te)[2].argmax(1) == y_te).float().mean().item())
            for m in methods:
                torch.manual_seed(seed)
                net = Mlp(eeg.shape[1], CLASSES, init=a.init)
                extra, params, after = None, (), None
                if m == 'kd':
                    extra = lambda f1, f2, lg, yb, idx: 10 * kd_loss(lg, t_logits[idx])
                elif m in ('crd', 'cmcrd'):
                    c = Contrast(lab[tr_idx], train_mask, 128, m == 'cmcrd', torch.Generator().manual_seed(seed + 7))
                    extra = lambda f1, f2, lg, yb, idx, c=c: 0.02 * c.loss(f2, t_f2[idx], lg, t_logits[idx], yb, idx)
                    params, after = c.params(), c.update
                curve = []
                test = (Xe_te, y_te) if a.evaluation == 'authors' else None
                fit(net, Xe_tr, y_tr, train_mask, seed, a, extra, params, after, test=test, curve=curve)
                with torch.no_grad():
                    acc[m].setdefault(s, []).append((net(Xe_te)[2].argmax(1) == y_te).float().mean().item())
                if curve:
                    last[m].setdefault(s, []).append(curve[-1])
                    oracle[m].setdefault(s, []).append(max(curve))
            line = ', '.join(f'{m} {100 * acc[m][s][-1]:.1f}' for m in acc)
            print(f'  fold s{s} seed {seed}: {line}  ({time.time() - t0:.0f} s)', flush=True)
    selected = 'best-validation' if a.evaluation == 'honest' else 'best-training-accuracy'
    fold_mean, paired = summarise(acc, subjects, f'{selected} epoch')
    extra = {}
    if a.evaluation == 'authors':
        for name, table in (('last epoch', last), ('best test epoch (oracle)', oracle)):
            means, pairs = summarise(table, subjects, name)
            extra[name] = {'accuracy': {m: {str(s): v for s, v in table[m].items()} for m in table},
                           'foldMeans': {m: v.tolist() for m, v in means.items()}, 'pairedCmcrdMinus': pairs}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, 'w') as f:
        json.dump({'root': a.root, 'seeds': seeds, 'epochs': a.epochs, 'warmup': a.warmup, 'init': a.init,
                   'evaluation': a.evaluation, 'torch': torch.__version__,
                   'accuracy': {m: {str(s): v for s, v in acc[m].items()} for m in acc},
                   'foldMeans': {m: fold_mean[m].tolist() for m in acc}, 'pairedCmcrdMinus': paired,
                   'otherEpochs': extra}, f, indent=1)


def summarise(acc, subjects, title):
    """Prints mean ± std over folds (each fold averaged over seeds) and the paired CMCRD − X differences."""
    fold_mean = {m: np.array([np.mean(acc[m][s]) for s in subjects]) for m in acc}
    print(f'\naccuracy % at the {title} (mean ± std over folds; each fold averaged over seeds)')
    for m in acc:
        print(f'  {m:9s} {100 * fold_mean[m].mean():6.2f} ± {100 * fold_mean[m].std(ddof=1):5.2f}')
    paired = {}
    if 'cmcrd' in acc:
        print('paired cmcrd − X (points; mean ± s.e.; 95 % t interval; folds better/equal/worse)')
        for m in acc:
            if m == 'cmcrd':
                continue
            d = 100 * (fold_mean['cmcrd'] - fold_mean[m])
            se = d.std(ddof=1) / math.sqrt(len(d))
            h = st.t.ppf(0.975, len(d) - 1) * se
            paired[m] = {'mean': d.mean(), 'se': se, 'low': d.mean() - h, 'high': d.mean() + h}
            print(f'  {m:9s} {d.mean():+6.2f} ± {se:4.2f}  [{d.mean() - h:+.2f}, {d.mean() + h:+.2f}]  '
                  f'{(d > 1e-9).sum()}/{(abs(d) <= 1e-9).sum()}/{(d < -1e-9).sum()}')
    return fold_mean, paired

if __name__ == '__main__':
    main()
