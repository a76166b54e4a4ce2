"""Every method's cost, stage by stage, against the machine's measured limit (issue 24).

    python benchmarks/stages.py METHOD [--data embedded|ROOT] [--category C] [--device cpu|cuda] [--passes 5] [--anomalib]

METHOD: patchcore padim fapm fbft dfm anomalydino costfilter adpretrain. `--data embedded` (default) uses the offline
embedded dataset (category puck); a folder with `<category>/train/good` is read as MVTec AD, any other folder as a plain
folder dataset (e.g. ../shared/data/screw_256, category screw).

How it measures. A matmul probe (float32 GEMM) and a memory-bandwidth probe (large tensor copy) run first, in this
process, at the thread count the stages use: they are the machine's limits. Then, per method, only public functions are
called (`fit_*`, the model's `forward`); the stages inside them are timed by *probes*: forward hooks on modules (the
`FeatureExtractor`, DFM's FMN, CostFilter's U-Net, ADPretrain's projectors) and wrappers around public functions and
methods (`read_image`/`transform`, `patch_embed`, `knn`, `greedy_coreset`, `gaussian_blur`, ...). Time is exclusive
(a stage nested in another is subtracted from it); what no probe covers is `other`. A probe whose target does not exist
(e.g. after a refactor) is skipped, so the timer keeps working when a method's internals change.

Passes: one warm-up pass that also counts the arithmetic (torch ops under `FlopCounterMode` for FLOPs and a dispatch
mode summing the bytes of every non-view op's operands and results; faiss / cdist searches analytically), then
`--passes` timed passes of inference (`--fit-passes` of fitting); medians. Fraction of the limit = max(achieved
FLOP/s / peak FLOP/s, achieved B/s / peak B/s); null where the stage's arithmetic is not counted (image decode, the
NumPy coreset loop, metrics).

Writes reports/records/stages_<method>_<data>.json (with the command and `os.getloadavg()` before and after).
`--anomalib` (patchcore, padim; needs anomalib importable) adds the side-by-side run of benchmarks/anomalib_side.py.
"""
from __future__ import annotations
import argparse, json, math, os, platform, resource, statistics, sys, time
from collections import defaultdict
from contextlib import contextmanager, ExitStack
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
METHODS = ('patchcore', 'padim', 'fapm', 'fbft', 'dfm', 'anomalydino', 'costfilter', 'adpretrain')
STAGES = ('decode', 'backbone', 'embedding', 'memory_build', 'search', 'filter', 'map', 'metrics', 'other')
COUNTED = {'decode': None, 'backbone': 'torch', 'embedding': 'torch', 'memory_build': 'torch', 'search': 'analytic',
           'filter': 'torch', 'map': 'torch', 'metrics': None, 'other': 'torch'}

# ------------------------------------------------------------------ machine limits
def peak_matmul(n:int=1024, reps:int=7)->float:
    "Best float32 GEMM rate (FLOP/s) of an n x n matmul over `reps` calls."
    a, b = torch.randn(n, n), torch.randn(n, n); c = a @ b; best = 0.
    for _ in range(reps):
        t = time.perf_counter(); torch.mm(a, b, out=c); best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best

def peak_bandwidth(mb:int=256, reps:int=7)->float:
    "Best copy rate (bytes read + written per second) of a `mb` MiB float32 tensor."
    a = torch.empty(mb * 2**18).uniform_(); b = torch.empty_like(a); b.copy_(a); best = 0.
    for _ in range(reps):
        t = time.perf_counter(); b.copy_(a); best = max(best, 2 * a.numel() * 4 / (time.perf_counter() - t))
    return best

# ------------------------------------------------------------------ arithmetic counters
class _Bytes(torch.utils._python_dispatch.TorchDispatchMode):
    "Sums the bytes of the operands and results of every non-view aten op (each streamed once: a lower bound)."
    def __init__(self): super().__init__(); self.n = 0
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view:
            from torch.utils._pytree import tree_flatten
            seen = set()
            for t in tree_flatten((args, kwargs, out))[0]:
                if isinstance(t, torch.Tensor) and id(t) not in seen:
                    seen.add(id(t))
                    try: st = t.untyped_storage().nbytes()
                    except Exception: st = t.numel() * t.element_size()
                    self.n += min(t.numel() * t.element_size(), st)
        return out

class Counter:
    "FLOPs (torch's FlopCounterMode) and bytes (`_Bytes`) of the torch ops run inside `with Counter():`."
    def __enter__(self):
        from torch.utils.flop_counter import FlopCounterMode
        self.fc, self.bc = FlopCounterMode(display=False), _Bytes()
        self.fc.__enter__(); self.bc.__enter__(); return self
    def __exit__(self, *e): self.bc.__exit__(*e); self.fc.__exit__(*e)
    def read(self)->tuple[int, int]: return int(self.fc.get_total_flops()), int(self.bc.n)

# ------------------------------------------------------------------ the ledger: exclusive time and counts per stage
class Ledger:
    "Exclusive seconds, calls, FLOPs and bytes per stage; probes call `enter(stage)` / `exit(analytic)` properly nested."
    def __init__(self, cuda:bool=False):
        self.t, self.calls = defaultdict(float), defaultdict(int)
        self.flops, self.bytes = defaultdict(int), defaultdict(int)
        self.stack, self.counter, self.adj = [], None, [0, 0]
        self.sync = torch.cuda.synchronize if cuda else (lambda: None)
    def _read(self):
        f, b = self.counter.read() if self.counter else (0, 0)
        return f + self.adj[0], b + self.adj[1]
    def enter(self, stage:str):
        self.sync(); f, b = self._read()
        self.stack.append([stage, time.perf_counter(), 0., f, b, 0, 0])
    def exit(self, analytic=None):
        self.sync(); t1 = time.perf_counter(); f1, b1 = self._read()
        stage, t0, ct, f0, b0, cf, cb = self.stack.pop()
        dt, df, db = t1 - t0, f1 - f0, b1 - b0
        if analytic is not None and self.counter is not None:
            af, ab = analytic(); self.adj[0] += af - df; self.adj[1] += ab - db; df, db = af, ab
        self.t[stage] += dt - ct; self.calls[stage] += 1
        self.flops[stage] += df - cf; self.bytes[stage] += db - cb
        if self.stack: p = self.stack[-1]; p[2] += dt; p[5] += df; p[6] += db
    @contextmanager
    def stage(self, name:str):
        self.enter(name)
        try: yield
        finally: self.exit()
    def reset(self):
        for d in (self.t, self.calls, self.flops, self.bytes): d.clear()

class Probes:
    "Install timing probes for the length of a `with` block; targets that do not exist are skipped (and listed)."
    def __init__(self, ledger:Ledger): self.L, self.undo, self.installed, self.missing = ledger, [], [], []
    def __enter__(self): return self
    def __exit__(self, *e):
        for u in reversed(self.undo): u()
        self.undo.clear()

    def module(self, mod, stage:str, analytic=None, label:str=''):
        "Time every forward call of `mod` (a module or a list of modules) as `stage`."
        mods = mod if isinstance(mod, (list, tuple)) else [mod]
        if not mods or any(m is None for m in mods): self.missing.append(label or stage); return
        for m in mods:
            h1 = m.register_forward_pre_hook(lambda _m, _a: self.L.enter(stage))
            h2 = m.register_forward_hook(lambda _m, a, o: self.L.exit(analytic and (lambda: analytic(a, o))))
            self.undo += [h1.remove, h2.remove]
        self.installed.append(label or f'{type(mods[0]).__name__}.forward -> {stage}')

    def function(self, owner, name:str, stage:str, analytic=None, label:str=''):
        "Time calls of `owner.name` (a method of an instance, or a module-level function) as `stage`."
        orig = getattr(owner, name, None)
        if orig is None: self.missing.append(label or name); return
        L = self.L
        def wrapped(*a, **k):
            L.enter(stage); out = None
            try: out = orig(*a, **k); return out
            finally: L.exit(analytic and (lambda: analytic(a, k, out)))
        wrapped.__wrapped__ = orig
        had = name in getattr(owner, '__dict__', {})
        setattr(owner, name, wrapped)
        self.undo.append((lambda: setattr(owner, name, orig)) if had else (lambda: delattr(owner, name)))
        self.installed.append(label or f'{getattr(owner, "__name__", type(owner).__name__)}.{name} -> {stage}')

    def everywhere(self, fn, stage:str, analytic=None):
        "Time a public adnb function wherever it is bound (`from .x import fn` copies the name into each module)."
        owners = [m for k, m in list(sys.modules.items()) if (k == 'adnb' or k.startswith('adnb.')) and getattr(m, fn.__name__, None) is fn]
        if not owners: self.missing.append(fn.__name__); return
        for m in owners: self.function(m, fn.__name__, stage, analytic, label=f'{m.__name__}.{fn.__name__} -> {stage}')

# ------------------------------------------------------------------ analytic counts of searches (no torch op to see)
def knn_count(a, k, out):
    """FLOPs and bytes of an exact L2 search: |Q|·|bank|·D multiply-adds, bank and queries read once, results written.
    A pruned index (`adnb.search.PrunedL2`) counts the query-row pairs it really scanned (`last_work`) plus the query-centre distances."""
    bank, q = a[0], a[1]; kk = (a[2] if len(a) > 2 else k.get('k', 1))
    N, D = bank.shape; Q = q.shape[0]; idx = k.get('index')
    if hasattr(idx, 'work'):
        return 2 * (idx.last_work + Q * idx.K) * D, 4 * (N * D + Q * D) + Q * min(kk, N) * 12
    return 2 * Q * N * D, 4 * (N * D + Q * D) + Q * min(kk, N) * 12

def cosine_count(a, k, out):
    bank, q = a[0], a[1]; N, D = bank.shape; Q = q.shape[0]
    return 2 * Q * N * D, 4 * (N * D + Q * D) + Q * 12

def fapm_layer_count(model):
    def f(a, k, out):
        e, i = a[0], a[2]; bank = getattr(model, f'bank{i}'); B, h, w, D = e.shape
        K = bank.shape[1] if bank.shape[0] > 1 else int(getattr(model, f'count{i}')[0])
        return 2 * B * h * w * K * D, 4 * (bank.numel() + e.numel()) + out.numel() * 4
    return f

# ------------------------------------------------------------------ data
def data_records(data:str, category:str|None):
    "Records and a short data name for the file name."
    from adnb.datasets import load_records
    if data == 'embedded': return load_records('embedded', category or 'puck'), 'embedded', category or 'puck'
    p = Path(data)
    if not p.is_dir(): raise SystemExit(f"--data {data}: no such folder (give 'embedded' or a dataset root)")
    if category and (p/category/'train'/'good').is_dir(): return load_records('mvtec_ad', category, p), category, category
    cat = category or p.name.split('_')[0]
    return load_records('folder', cat, p), cat, cat

def subset(recs, n_train:int|None, n_test:int|None):
    "The first n_train training records and n_test test records, half normal half anomalous (all when None)."
    from adnb.datasets import split
    train, test = split(recs, 'train'), split(recs, 'test')
    if n_train: train = train[:n_train]
    if n_test:
        good, bad = [r for r in test if not r.label], [r for r in test if r.label]
        test = good[:n_test // 2] + bad[:n_test - n_test // 2]
    return train, test

# ------------------------------------------------------------------ method specifications (public functions only)
def _import():
    import adnb.datasets as ds, adnb.metrics as mt, adnb.backbones as bb
    return ds, mt, bb

def common_probes(P:Probes, feats_modules:list):
    "Probes every method shares: decode and resize, backbone forward, map smoothing, full-resolution maps."
    ds, mt, bb = _import()
    P.everywhere(ds.read_image, 'decode'); P.everywhere(ds.transform, 'decode')
    for m in feats_modules: P.module(m, 'backbone', label='FeatureExtractor.forward -> backbone')
    P.everywhere(mt.gaussian_blur, 'map'); P.everywhere(mt.full_resolution, 'map')

class Spec:
    "How to build, fit and run one method through its public functions, and which probes time its stages."
    name = ''; trains = False
    def __init__(self, a, train, test, size): self.a, self.train, self.test, self.size = a, train, test, size
    def settings(self)->dict: return {}
    def build(self): raise NotImplementedError
    def fit(self, model, batches)->dict: raise NotImplementedError
    def forward(self, model, x, batch): return model(x)
    def probes(self, P:Probes, model): pass
    def feature_modules(self, model): return [model.features]
    def loader(self, recs, bs=16):
        from adnb.datasets import make_loader
        return make_loader(recs, self.size, batch_size=bs)

class PatchCoreSpec(Spec):
    name = 'patchcore'
    def settings(self): return dict(backbone='efficientnet_lite0', layers=['blocks.2', 'blocks.4'], coreset_ratio=0.1,
                                    num_neighbors=9, sigma=4.0, seed=0, use_faiss=self.a.use_faiss, image_size=self.size,
                                    search=getattr(self.a, 'search', 'exact'))
    def build(self):
        from adnb.patchcore import PatchCore
        s = self.settings(); return PatchCore(s['backbone'], s['layers'], coreset_ratio=s['coreset_ratio'], num_neighbors=s['num_neighbors'],
                                              sigma=s['sigma'], seed=s['seed'], use_faiss=s['use_faiss'], search=s['search'])
    def fit(self, model, batches):
        from adnb.patchcore import fit_patchcore
        return fit_patchcore(model, batches, progress=False)
    def probes(self, P, model):
        import adnb.patchcore as pc
        P.function(model, 'embed', 'embedding'); P.everywhere(pc.random_projection, 'memory_build')
        P.everywhere(pc.greedy_coreset, 'memory_build'); P.everywhere(pc.knn, 'search', knn_count)
        P.function(model, 'anomaly_map', 'map')

class PaDiMSpec(Spec):
    name = 'padim'
    def settings(self): return dict(backbone='efficientnet_lite0', layers=['blocks.1', 'blocks.2', 'blocks.4'], d=100, eps=0.01, sigma=4.0,
                                    seed=0, image_size=self.size)
    def build(self):
        from adnb.padim import PaDiM
        s = self.settings(); return PaDiM(s['backbone'], s['layers'], d=s['d'], eps=s['eps'], sigma=s['sigma'], seed=s['seed'])
    def fit(self, model, batches):
        from adnb.padim import fit_padim
        return fit_padim(model, batches)
    def probes(self, P, model):
        import adnb.padim as pd
        P.function(model, 'embed', 'embedding'); P.everywhere(pd.gaussian_fit, 'memory_build')
        P.everywhere(pd.mahalanobis, 'search'); P.function(model, 'anomaly_map', 'map')

class FAPMSpec(Spec):
    name = 'fapm'
    def settings(self): return dict(backbone='efficientnet_lite0', layers=['blocks.2', 'blocks.4'], cell_px=32, ratio=0.1, d_th=0.5, k=4,
                                    seed=0, use_faiss=self.a.use_faiss, image_size=self.size)
    def build(self):
        from adnb.fapm import FAPM
        s = self.settings(); return FAPM(s['backbone'], s['layers'], cell_px=s['cell_px'], ratio=s['ratio'], d_th=s['d_th'], k=s['k'],
                                         seed=s['seed'], use_faiss=s['use_faiss'])
    def fit(self, model, batches):
        from adnb.fapm import fit_fapm
        return fit_fapm(model, batches)
    def probes(self, P, model):
        import adnb.fapm as fp, adnb.patchcore as pc
        P.function(model, 'embed', 'embedding'); P.everywhere(fp.adaptive_coreset, 'memory_build')
        P.function(model, 'layer_knn', 'search', fapm_layer_count(model))

class AnomalyDINOSpec(Spec):
    name = 'anomalydino'
    def settings(self): return dict(backbone='efficientnet_lite0', layers=None, img_size=self.size, sigma=4.0, top_frac=0.01, seed=0,
                                    use_faiss=True, references='all training images', image_size=self.size)
    def build(self):
        from adnb.anomalydino import AnomalyDINO
        s = self.settings(); return AnomalyDINO(s['backbone'], s['layers'], img_size=s['img_size'], sigma=s['sigma'], top_frac=s['top_frac'], seed=s['seed'])
    def fit(self, model, batches):
        from adnb.anomalydino import fit_anomalydino
        return fit_anomalydino(model, batches)
    def probes(self, P, model):
        import adnb.anomalydino as ad
        P.function(model, 'raw_features', 'embedding'); P.everywhere(ad.nn_cosine, 'search', cosine_count)
        P.function(model, 'index', 'memory_build'); P.everywhere(ad.distance_map, 'map')

class FBFTSpec(Spec):
    name = 'fbft'; trains = True
    def settings(self): return dict(backbone='efficientnet_lite0', layers=['blocks.2', 'blocks.4'], epochs=self.a.epochs, lr=1e-3,
                                    patch_batch=4096, train_dist='cosine', square=True, seed=0, image_size=self.size)
    def build(self):
        from adnb.fbft import FBFT
        s = self.settings(); return FBFT(s['backbone'], s['layers'])
    def loader(self, recs, bs=16):
        from adnb.datasets import make_loader
        return make_loader(recs, self.size, square=True, batch_size=bs)
    def fit(self, model, batches):
        from adnb.fbft import fit_fbft
        s = self.settings()
        return fit_fbft(model, batches, s['epochs'], s['lr'], s['patch_batch'], s['train_dist'], s['seed'], progress=False)
    def forward(self, model, x, batch):
        from adnb.fbft import valid_mask
        return model(x, valid_mask(batch['geometry'], self.size))
    def feature_modules(self, model): return [model.teacher]
    def probes(self, P, model):
        P.function(model, 'pair', 'embedding'); P.function(model, 'transfer_errors', 'search')
        import adnb.fbft as fb; P.everywhere(fb.smooth, 'map')

class DFMSpec(Spec):
    name = 'dfm'; trains = True
    def settings(self): return dict(backbone='efficientnet_lite0', layers=None, memory_size=196, epochs=self.a.epochs, steps=self.a.steps,
                                    lr=None, lr_target=0.03, optimizer='adam', anchor=1.0, modulate='local3x3', batch_size=8, seed=0,
                                    image_size=self.size, anomalies='CutPaste (fit_dfm default)')   # the experiment's defaults (lr None: per-group rule)
    def build(self):
        from adnb.dfm import DFM
        return DFM('efficientnet_lite0', memory_size=196, seed=0, modulate=self.settings()['modulate'])
    def fit(self, model, batches):
        from adnb.dfm import fit_dfm
        s = self.settings(); x = torch.cat([b['image'] for b in batches])
        return fit_dfm(model, x, epochs=s['epochs'], steps=s['steps'], lr=s['lr'], lr_target=s['lr_target'], optimizer=s['optimizer'],
                       anchor=s['anchor'], batch_size=s['batch_size'], seed=s['seed'])
    def probes(self, P, model):
        import adnb.dfm as dm, adnb.patchcore as pc
        P.function(model, 'embed', 'embedding'); P.everywhere(pc.greedy_coreset, 'memory_build')
        P.everywhere(pc.random_projection, 'memory_build')
        if model.fmn is not None: P.module(model.fmn, 'search', label='FMN.forward -> search')
        P.function(model, 'anomaly_map', 'map')

class CostFilterSpec(Spec):
    name = 'costfilter'; trains = True
    LAYERS = ['blocks.1', 'blocks.2', 'blocks.4', 'blocks.6']
    def settings(self): return dict(backbone='efficientnet_lite0', layers=self.LAYERS, img_size=self.size, templates=3, width=self.a.width,
                                    upsample=2, epochs=self.a.epochs, lr=1e-3, batch_size=8, seed=0, base='anomalydino (same layers, grid, templates)',
                                    image_size=self.size)
    def build(self):
        from adnb.costfilter import CostFilter
        s = self.settings(); cat = self.train[0].category
        return CostFilter(s['backbone'], s['layers'], img_size=s['img_size'], classes=[cat], n_templates=s['templates'], width=s['width'],
                          upsample=s['upsample'], seed=s['seed'])
    def templates(self):
        from adnb.costfilter import draw_templates
        return draw_templates(self.train, 3, 0)
    def fit(self, model, batches):
        from adnb.costfilter import fit_costfilter
        s = self.settings(); tpl = self.templates()
        info = fit_costfilter(model, self.train, s['epochs'], s['lr'], batch_size=s['batch_size'], seed=s['seed'], progress=False)
        x = torch.stack([self._img(r) for r in tpl]); model.set_templates(self.train[0].category, x)
        return info
    def _img(self, r):
        from adnb.datasets import ADDataset
        return ADDataset([r], self.size)[0]['image']
    def forward(self, model, x, batch): return model(x, self.train[0].category, 'filtered')
    def feature_modules(self, model): return [model.fe]
    def probes(self, P, model):
        P.function(model, 'features', 'embedding'); P.function(model, 'volume', 'search')
        P.module(model.net, 'filter', label='CostFilterNet.forward -> filter')

class ADPretrainSpec(Spec):
    "Pretraining steps of ADPretrain, then PatchCore on its projected residual features (the paper's main detector)."
    name = 'adpretrain'; trains = True
    def settings(self): return dict(backbone='efficientnet_lite0', layers=['blocks.2', 'blocks.4'], n_ref=self.a.n_ref, epochs=1,
                                    max_steps=self.a.steps, batch_size=8, pretrain=['embedded/brick', 'embedded/grass', 'embedded/gravel'],
                                    detector='patchcore (coreset 0.1, b=9)', shots=8, image_size=self.size)
    def build(self):
        from adnb.adpretrain import ADPretrain
        s = self.settings(); return ADPretrain(s['backbone'], s['layers'], n_ref=s['n_ref'], seed=42)
    def fit(self, model, batches):
        "Pretrain (a few steps), then fit PatchCore on the residual features against 8 seeded references."
        from adnb.adpretrain import pretrain, ResidualFeatures, with_features
        from adnb.datasets import load_records, kshot, split
        from adnb.patchcore import PatchCore, fit_patchcore
        s = self.settings(); cat = self.train[0].category
        precs = [r for c in ('brick', 'grass', 'gravel') if c != cat for r in load_records('embedded', c)]
        h = pretrain(model, precs, cat, epochs=1, batch_size=s['batch_size'], image_size=self.size, crop=None, max_steps=s['max_steps'],
                     seed=42, progress=False, log=lambda *a, **k: None)
        refs = split(kshot(self.train, 8, 0), 'train'); x = torch.stack([self._img(r) for r in refs])
        det = with_features(PatchCore('efficientnet_lite0', s['layers'], coreset_ratio=0.1, num_neighbors=9, sigma=4.0), ResidualFeatures(model, x))
        self.detector = det; info = fit_patchcore(det, batches, progress=False)
        return dict(pretrain_s=h['pretrain_s'], steps=h['steps'], **info)
    def _img(self, r):
        from adnb.datasets import ADDataset
        return ADDataset([r], self.size)[0]['image']
    def forward(self, model, x, batch): return self.detector(x)
    def feature_modules(self, model): return [model.features]
    def probes(self, P, model):
        import adnb.patchcore as pc
        P.module(list(model.projectors.values()), 'embedding', label='Projector.forward -> embedding')
        P.everywhere(pc.greedy_coreset, 'memory_build'); P.everywhere(pc.random_projection, 'memory_build')
        P.everywhere(pc.knn, 'search', knn_count); P.everywhere(pc.patch_embed, 'embedding')

SPECS = dict(patchcore=PatchCoreSpec, padim=PaDiMSpec, fapm=FAPMSpec, fbft=FBFTSpec, dfm=DFMSpec, anomalydino=AnomalyDINOSpec,
             costfilter=CostFilterSpec, adpretrain=ADPretrainSpec)

# ------------------------------------------------------------------ running and summarising
def steps_counter():
    "Count optimiser steps (every torch optimiser, global hooks): the unit of 'training steps'."
    from torch.optim.optimizer import register_optimizer_step_post_hook
    n = [0]; h = register_optimizer_step_post_hook(lambda *a: n.__setitem__(0, n[0] + 1))
    return n, h

def summarise(L:Ledger, per:int, peaks:dict, steps:int=0)->list[dict]:
    "One row per stage: ms per image (and per step), share, counts, achieved rates and the fraction of the limit."
    tot = sum(L.t.values()) or 1.
    rows = []
    for s in STAGES:
        if s not in L.t: continue
        r = dict(stage=s, ms_per_image=1e3 * L.t[s] / per, share=L.t[s] / tot, calls=L.calls[s])
        if steps and s == 'memory_build': r['ms_per_step'] = 1e3 * L.t[s] / steps
        rows.append(r)
    return rows

def attach_counts(rows:list, counts:dict, per_count:int, peaks:dict, cuda:bool=False):
    "Add FLOPs and bytes per image (from the counting pass) and the fractions of the measured peaks."
    for r in rows:
        s = r['stage']; kind = COUNTED.get(s)
        if s == 'memory_build' and counts.get('uncounted_memory_build'): kind = None
        if kind is None or s not in counts['flops']:
            r.update(flops_per_image=None, bytes_per_image=None, fraction=None, counted='no'); continue
        f, b = counts['flops'][s] / per_count, counts['bytes'][s] / per_count
        sec = r['ms_per_image'] / 1e3
        ff = f / sec / peaks['flops_per_s'] if sec > 0 else None; fb = b / sec / peaks['bytes_per_s'] if sec > 0 else None
        r.update(flops_per_image=f, bytes_per_image=b, gflops_per_s=f / sec / 1e9 if sec else None, gbytes_per_s=b / sec / 1e9 if sec else None,
                 fraction_flops=ff, fraction_bytes=fb, fraction=None if ff is None else max(ff, fb), counted=kind)

def median_rows(runs:list[list[dict]])->list[dict]:
    "Median over passes of each stage's ms per image (and per step); calls and shares from the median pass."
    names = [r['stage'] for r in runs[0]]; out = []
    for n in names:
        vals = [next((r for r in run if r['stage'] == n), None) for run in runs]; vals = [v for v in vals if v]
        r = dict(vals[0]); r['ms_per_image'] = statistics.median(v['ms_per_image'] for v in vals)
        r['ms_per_image_passes'] = [round(v['ms_per_image'], 4) for v in vals]
        if 'ms_per_step' in r: r['ms_per_step'] = statistics.median(v['ms_per_step'] for v in vals)
        out.append(r)
    tot = sum(r['ms_per_image'] for r in out) or 1.
    for r in out: r['share'] = r['ms_per_image'] / tot
    return out

def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def threads()->dict:
    d = dict(torch=torch.get_num_threads(), torch_interop=torch.get_num_interop_threads(), OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS'))
    try:
        import faiss; d['faiss'] = faiss.omp_get_max_threads()
    except ImportError: d['faiss'] = None
    return d

def measure(spec:Spec, a, peaks:dict, cuda:bool=False)->dict:
    "Fit and inference stages of one method: counting pass, then timed passes; metrics of the final model."
    from adnb.metrics import evaluate
    dev = 'cuda' if cuda else 'cpu'
    out = dict(method=spec.name, settings=spec.settings())
    # decode + resize: its own pass over the loader (the fit and forward passes run on decoded batches)
    L = Ledger(cuda)
    def decode(recs):
        with Probes(L) as P:
            common_probes(P, [])
            return list(spec.loader(recs))
    train_b = decode(spec.train); L.reset()
    dec_runs = []
    for _ in range(max(1, a.passes)):
        L.reset(); test_b = decode(spec.test); dec_runs.append(1e3 * L.t['decode'] / len(spec.test))
    # fit: counting pass (warm-up), then timed passes, each on a fresh model
    fit_runs, counts, model = [], None, None
    nsteps, hook = steps_counter()
    warm_engine(spec, a, dev, train_b)
    try:
        for p in range(1 + max(1, a.fit_passes)):
            model = spec.build().to(dev); L = Ledger(cuda); nsteps[0] = 0
            set_engine(model, 'torch' if p == 0 else a.engine)         # counting pass: torch ops are what the counters see
            with Probes(L) as P:
                common_probes(P, spec.feature_modules(model)); spec.probes(P, model)
                with ExitStack() as st:
                    if p == 0: L.counter = st.enter_context(Counter())
                    L.enter('memory_build' if spec.trains else 'other'); t0 = time.perf_counter(); info = spec.fit(model, train_b); L.exit()
                    wall = time.perf_counter() - t0
                L.counter = None
            rows = summarise(L, len(spec.train), peaks, nsteps[0])
            if p == 0:
                counts = dict(flops=dict(L.flops), bytes=dict(L.bytes), uncounted_memory_build=spec.name in ('patchcore', 'fapm', 'adpretrain'))
                fit_probes = dict(installed=P.installed, missing=P.missing); fit_steps = nsteps[0]; model_torch = model
            else: fit_runs.append((rows, wall, info))
    finally: hook.remove()
    rows = median_rows([r for r, _, _ in fit_runs]); attach_counts(rows, counts, len(spec.train), peaks)
    info = fit_runs[-1][2]
    out['fit'] = dict(n_images=len(spec.train), passes=len(fit_runs), wall_s=statistics.median(w for _, w, _ in fit_runs),
                      wall_s_passes=[round(w, 3) for _, w, _ in fit_runs], steps=fit_steps,
                      stages=rows, probes=fit_probes, peak_rss_mb=rss_mb(),
                      info={k: v for k, v in info.items() if isinstance(v, (int, float, str, bool)) or k == 'grid'} if isinstance(info, dict) else None)
    # inference: one counting pass (also warm-up), then timed passes of forward over the decoded batches
    model.eval(); model_torch.eval(); inf_runs = []; res = None
    for p in range(2 + max(1, a.passes)):
        mdl = model_torch if p == 0 else model                          # pass 0: the torch-engine model counts (and gives the torch metrics),
        L = Ledger(cuda)                                                # pass 1 warms the engine up, then the timed passes
        with Probes(L) as P, torch.no_grad():
            common_probes(P, spec.feature_modules(mdl)); spec.probes(P, mdl)
            with ExitStack() as st:
                if p == 0: L.counter = st.enter_context(Counter())
                S, Y, maps, masks = [], [], [], []
                t0 = time.perf_counter()
                for b in test_b:
                    x = b['image'].to(dev)
                    L.enter('other'); o = spec.forward(mdl, x, b); L.exit()
                    import adnb.metrics as mt
                    maps += mt.full_resolution(o['map'].cpu(), b['geometry'])
                    S += o['score'].float().cpu().tolist(); Y += b['label'].tolist(); masks += [m.numpy() for m in b['mask']]
                wall = time.perf_counter() - t0
                has = any(r.masks for r in spec.test)
                with L.stage('metrics'): m = evaluate(S, Y, *((maps, masks) if has else ()))
            L.counter = None
        rows = summarise(L, len(spec.test), peaks)
        if p == 0: counts = dict(flops=dict(L.flops), bytes=dict(L.bytes)); inf_probes = dict(installed=P.installed, missing=P.missing); res0 = m
        elif p == 1: res = m
        else: inf_runs.append((rows, wall))
    for rr, _ in inf_runs: rr.insert(0, dict(stage='decode', ms_per_image=0., share=0., calls=0))
    rows = median_rows([r for r, _ in inf_runs]); rows[0]['ms_per_image'] = statistics.median(dec_runs)
    rows[0]['ms_per_image_passes'] = [round(v, 4) for v in dec_runs]; rows[0]['calls'] = len(spec.test)
    tot = sum(r['ms_per_image'] for r in rows)
    for r in rows: r['share'] = r['ms_per_image'] / tot
    attach_counts(rows, counts, len(spec.test), peaks)
    fwd = [sum(r['ms_per_image'] for r in rr if r['stage'] not in ('decode', 'metrics')) for rr, _ in inf_runs]
    out['infer'] = dict(n_images=len(spec.test), passes=len(inf_runs), wall_s_passes=[round(w, 3) for _, w in inf_runs],
                        forward_ms_per_image=statistics.median(fwd), fps=1e3 / statistics.median(fwd),
                        stages=rows, probes=inf_probes, peak_rss_mb=rss_mb())
    out['metrics'] = res; out['model'] = model; out['engine'] = engine_of(model)
    out['metrics_torch_engine'] = res0           # fitted and scored with the torch engine (the counting passes)
    out['metrics_max_abs_diff_engine_vs_torch'] = max((abs(res[k] - res0[k]) for k in res if k in res0), default=0.)
    return out

def warm_engine(spec, a, dev, batches):
    "Export the engine's ONNX graph once (disk cache) so no timed pass pays for it; sessions per model are still timed."
    if a.engine == 'torch' or not batches: return
    m = spec.build().to(dev); set_engine(m, a.engine)
    fes = [f for f in m.modules() if isinstance(f, FeatureExtractor) and f.patch is None]
    with torch.no_grad():
        for f in fes: f(batches[0]['image'][:1].to(dev))

def stage_table(rec:dict, phase:str)->str:
    "Markdown table of one phase's stages."
    ph = rec[phase]; per = 'ms/step' if phase == 'fit' and ph.get('steps') else ''
    lines = [f"| stage | ms/image | {per or 'ms/step'} | share | GFLOP/image | MB/image | fraction of limit |", '|---|---|---|---|---|---|---|']
    for r in ph['stages']:
        f = r.get('flops_per_image'); b = r.get('bytes_per_image')
        lines.append(f"| {r['stage']} | {r['ms_per_image']:.2f} | {r['ms_per_step']:.1f} |" if 'ms_per_step' in r else f"| {r['stage']} | {r['ms_per_image']:.2f} | |")
        lines[-1] += (f" {r['share']:.0%} | {'' if f is None else f'{f/1e9:.3f}'} | {'' if b is None else f'{b/2**20:.1f}'} | "
                      f"{'' if r.get('fraction') is None else format(r['fraction'], '.3f')} |")
    return '\n'.join(lines)

def machine(a)->dict:
    import adnb
    return dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(), affinity=len(os.sched_getaffinity(0)),
                python=platform.python_version(), torch=torch.__version__, numpy=np.__version__, threads=threads())

from adnb.backbones import FeatureExtractor, set_engine, engine_of, resolve_engine

def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('method', choices=METHODS)
    p.add_argument('--data', default='embedded'); p.add_argument('--category', default=None)
    p.add_argument('--device', default='cpu'); p.add_argument('--image-size', type=int, default=None)
    p.add_argument('--passes', type=int, default=5); p.add_argument('--fit-passes', type=int, default=None)
    p.add_argument('--train-images', type=int, default=None); p.add_argument('--test-images', type=int, default=None)
    p.add_argument('--epochs', type=int, default=1, help='FBFT, DFM, CostFilter: epochs timed (per-step costs are reported)')
    p.add_argument('--steps', type=int, default=3, help='DFM steps per stage; ADPretrain max pretraining steps')
    p.add_argument('--width', type=int, default=8, help='CostFilter U-Net width'); p.add_argument('--n-ref', type=int, default=64)
    p.add_argument('--use-faiss', type=int, default=None, help='PatchCore/FAPM search backend (default: PatchCore 1, FAPM 0 as its experiment)')
    p.add_argument('--search', default='exact', choices=['exact', 'flat', 'ivf', 'hnsw'], help='patchcore: exact (pruned) | flat (full scan) | ivf, hnsw (approximate: recall printed)')
    p.add_argument('--threads', type=int, default=0, help='torch and faiss threads (0: as given by the environment)')
    p.add_argument('--engine', default=None, help='frozen CNN backbone engine: auto | torch | onnxruntime | openvino (default: settings [run] engine)')
    p.add_argument('--compare', action='store_true', help='fapm: also PatchCore on the same images; costfilter: also AnomalyDINO (default on)')
    p.add_argument('--anomalib', action='store_true', help='patchcore, padim: side by side with anomalib (skipped when absent)')
    p.add_argument('--anomalib-fit', default='own', choices=['own', 'shared'],
                   help="patchcore with --anomalib: 'own' times anomalib's fit (its coreset: ~40 min on bottle); 'shared' gives anomalib's model "
                        "adnb's coreset rows and times inference only (the fit ratio then comes from the record's last timed fit)")
    p.add_argument('--out', default=None, help='record path (default reports/records/stages_<method>_<data>.json; "-" none)')
    a = p.parse_args(argv)
    if a.use_faiss is None: a.use_faiss = 0 if a.method == 'fapm' else 1
    a.use_faiss = bool(a.use_faiss)
    if a.fit_passes is None: a.fit_passes = 1 if a.method in ('fbft', 'dfm', 'costfilter', 'adpretrain') else 3
    a.engine = resolve_engine(a.engine)
    return a

def command(argv)->str:
    return 'python benchmarks/stages.py ' + ' '.join(argv)

def run(argv=None)->dict:
    "Measure one method; returns the record (also written unless --out -)."
    argv = list(sys.argv[1:] if argv is None else argv); a = parse(argv)
    if a.device.startswith('cuda') and not torch.cuda.is_available():
        print('--device cuda: no CUDA device on this machine, CUDA measurements skipped (nothing written)'); return None
    from adnb.timing import pinned_threads
    with pinned_threads(a.threads or None): return _run(argv, a)

def _run(argv, a)->dict:
    cuda = a.device.startswith('cuda')
    load0 = os.getloadavg()
    recs, dname, cat = data_records(a.data, a.category)
    size = a.image_size or (128 if a.data == 'embedded' else 256)
    if a.method == 'costfilter' and a.data == 'embedded' and not a.image_size: size = 64
    train, test = subset(recs, a.train_images, a.test_images)
    peaks = dict(flops_per_s=peak_matmul(), bytes_per_s=peak_bandwidth())
    print(f"{a.method} on {dname} ({len(train)} train, {len(test)} test, {size} px), {torch.get_num_threads()} torch threads; "
          f"peaks: {peaks['flops_per_s']/1e9:.1f} GFLOP/s fp32 GEMM, {peaks['bytes_per_s']/1e9:.1f} GB/s copy")
    torch.manual_seed(0)
    spec = SPECS[a.method](a, train, test, size)
    r = measure(spec, a, peaks, cuda); model = r.pop('model'); r.pop('method')
    rec = dict(benchmark='stages', method=a.method, command=command(argv), engine=r.pop('engine'),
               data=dict(data=a.data, name=dname, category=cat, n_train=len(train), n_test=len(test), image_size=size),
               machine=dict(machine(a), peak_flops_per_s=peaks['flops_per_s'], peak_bytes_per_s=peaks['bytes_per_s'],
                            peak_probes='float32 GEMM 1024x1024 (best of 7); tensor copy 256 MiB (read+write, best of 7)'), **r)
    if a.method == 'patchcore' and a.search in ('ivf', 'hnsw'): rec['approximate_search'] = recall(model, spec, a.search)
    if a.method == 'fapm': rec['fapm_vs_patchcore'] = compare_fapm(a, train, test, size, peaks, rec, cuda)
    if a.method == 'costfilter': rec['costfilter_increment'] = costfilter_increment(a, spec, model, train, test, size, peaks, rec, cuda)
    if a.anomalib and a.method in ('patchcore', 'padim'):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import anomalib_side
        rec['anomalib'] = anomalib_side.compare(a, spec, train, test, size, rec, argv, model)
    load1 = os.getloadavg()
    rec['load_before'], rec['load_after'] = list(load0), list(load1)
    rec['note'] = (f"{os.cpu_count()}-core shared CPU; backbone engine {rec['engine']}; {torch.get_num_threads()} torch threads (faiss {threads()['faiss']}); medians over "
                   f"{a.passes} inference and {rec['fit']['passes']} fit passes after a warm-up/counting pass; settings fixed before any number "
                   "was seen (method defaults of the experiments); training methods: a few steps timed, per-step costs reported.")
    print('fit'); print(stage_table(rec, 'fit')); print('inference'); print(stage_table(rec, 'infer'))
    print({k: round(v, 4) for k, v in rec['metrics'].items()}, 'engine', rec['engine'],
          f"(max |metric difference| against the torch engine {rec['metrics_max_abs_diff_engine_vs_torch']:.1e})")
    if a.out != '-':
        out = Path(a.out) if a.out else ROOT/'reports'/'records'/f'stages_{a.method}_{dname}.json'
        rec['history'] = history(out)
        out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(rec, indent=1, default=float) + '\n'); print('written', out)
    return rec

def history(path:Path)->list:
    "The earlier record's history plus its own summary (date, command, engine, per-stage ms, forward ms, fit s, metrics), newest last."
    if not path.is_file(): return []
    try: old = json.loads(path.read_text())
    except ValueError: return []
    st = lambda ph: {r['stage']: round(r['ms_per_image'], 3) for r in old.get(ph, {}).get('stages', [])}
    return old.get('history', []) + [dict(date=time.strftime('%Y-%m-%d', time.localtime(path.stat().st_mtime)), command=old.get('command'),
                                          engine=old.get('engine', 'torch'), load_before=old.get('load_before'),
                                          change='superseded by a re-run (issue 32: engines, faster map/search/PaDiM fit; issue 28 pooling)',
                                          fit_wall_s=old.get('fit', {}).get('wall_s'), fit_ms_per_image=st('fit'), infer_ms_per_image=st('infer'),
                                          forward_ms_per_image=old.get('infer', {}).get('forward_ms_per_image'), metrics=old.get('metrics'))]

def recall(model, spec, search)->dict:
    "Recall@1 of the approximate index against exact search, on the patches of the first test batch."
    from adnb.patchcore import knn, search_index
    b = next(iter(spec.loader(spec.test)))
    with torch.no_grad(): e = model.embed(b['image']).flatten(0, 2)
    _, i0 = knn(model.memory_bank, e, 1, index=search_index(model.memory_bank, 'flat')); d1, i1 = knn(model.memory_bank, e, 1, index=model.index())
    r = float((i0 == i1).float().mean()); print(f'{search}: recall@1 {r:.4f} on {len(e)} test patches (compare the metrics with the exact record)')
    return dict(search=search, recall_at_1=r, n_queries=len(e), note='metric change: compare `metrics` with the exact-search record of the same data')

def compare_fapm(a, train, test, size, peaks, rec, cuda)->dict:
    "FAPM's claim: FPS against PatchCore (same images, backbone, search backend) at comparable AUROC, by the same stage timer."
    b = argparse.Namespace(**vars(a)); b.method = 'patchcore'
    pc = measure(PatchCoreSpec(b, train, test, size), b, peaks, cuda); pc.pop('model')
    rec['patchcore_same_run'] = dict(fit=pc['fit'], infer=pc['infer'], metrics=pc['metrics'], settings=pc['settings'])
    f, p = rec['infer']['fps'], pc['infer']['fps']
    return dict(fapm_fps=f, patchcore_fps=p, fps_ratio_fapm_over_patchcore=f / p,
                fapm_image_auroc=rec['metrics']['image_auroc'], patchcore_image_auroc=pc['metrics']['image_auroc'],
                image_auroc_fapm_minus_patchcore=rec['metrics']['image_auroc'] - pc['metrics']['image_auroc'],
                fapm_memory=rec['fit']['info'].get('memory_size'), patchcore_memory=pc['fit']['info'].get('bank_size'),
                search_backend='faiss' if a.use_faiss else 'torch.cdist', fps_is='1000 / median forward ms per image (decode and metrics excluded)')

def costfilter_increment(a, spec, cf, train, test, size, peaks, rec, cuda)->dict:
    "CostFilter-AD's added cost over its base (AnomalyDINO on the same layers, grid and templates), by the same stage timer."
    b = argparse.Namespace(**vars(a)); b.method = 'anomalydino'
    tpl = spec.templates()
    class Base(AnomalyDINOSpec):
        def build(self):
            from adnb.anomalydino import AnomalyDINO
            return AnomalyDINO('efficientnet_lite0', CostFilterSpec.LAYERS, img_size=size, grid=cf.grid[0])
        def fit(self, model, batches):
            from adnb.anomalydino import fit_anomalydino
            return fit_anomalydino(model, tpl)
    base = measure(Base(b, train, test, size), b, peaks, cuda); base.pop('model')
    rec['anomalydino_base_same_run'] = dict(infer=base['infer'], metrics=base['metrics'])
    per = lambda st, s: next((r['ms_per_image'] for r in st if r['stage'] == s), 0.)
    fm, bm = rec['infer']['forward_ms_per_image'], base['infer']['forward_ms_per_image']
    x = torch.stack([spec._img(r) for r in test[:2]])
    with torch.no_grad(): o = cf(x, train[0].category)
    h, w = o['m_bar'].shape[-2:]; L_ = o['m_bar'].shape[1]
    vol_mb = cf.D * L_ * h * w * 4 / 2**20
    return dict(base='anomalydino', base_forward_ms_per_image=bm, costfilter_forward_ms_per_image=fm, added_ms_per_image=fm - bm,
                added_filter_unet_ms_per_image=per(rec['infer']['stages'], 'filter'), added_volume_ms_per_image=per(rec['infer']['stages'], 'search'),
                added_volume_mb_per_image=vol_mb, filter_params_mb=sum(p.numel() for p in cf.net.parameters()) * 4 / 2**20,
                added_mb_per_image=vol_mb, base_image_auroc=base['metrics']['image_auroc'], costfilter_image_auroc=rec['metrics']['image_auroc'],
                note='added_ms_per_image = CostFilter forward - AnomalyDINO forward (medians, same images, same timer); '
                     'added_mb_per_image = the float32 cost volume (D x L x uh x uw) one image adds; CPU has no allocator peak to read')

if __name__ == '__main__': run()
