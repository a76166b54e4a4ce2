"""Shared by the parity scripts in this folder (`benchmarks/parity/<method>.py --authors PATH`).

Each script imports the authors' modules from a local checkout of their public repository (never from this
repository), feeds their function and ours the same seeded inputs, and records per component the difference:
max absolute / relative difference for arrays, overlap for index sets. Nothing of the authors' code is copied here."""
from __future__ import annotations
import contextlib, datetime, json, subprocess, sys
from pathlib import Path
import numpy as np

RECORDS = Path(__file__).resolve().parents[2]/'reports'/'records'

def authors_commit(path)->str:
    "The checked-out commit of the authors' repository at `path` ('unknown' when it is not a git checkout)."
    try: return subprocess.run(['git', '-C', str(path), 'rev-parse', 'HEAD'], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError): return 'unknown'

@contextlib.contextmanager
def authors_on_path(path, *subdirs):
    "Put the authors' checkout (and `subdirs` of it) first on sys.path for the duration; their modules are forgotten after."
    roots = [str(Path(path, s).resolve()) for s in (subdirs or ('',))]
    before = set(sys.modules); sys.path[:0] = roots
    try: yield
    finally:
        for r in roots: sys.path.remove(r)
        for m in set(sys.modules) - before:
            f = getattr(sys.modules[m], '__file__', None) or ''
            if any(f.startswith(r) for r in roots): del sys.modules[m]

def _np(x): return x.detach().cpu().double().numpy() if hasattr(x, 'detach') else np.asarray(x, dtype=np.float64)

def diff(ours, theirs)->dict:
    "Max absolute and max relative difference (relative to max |theirs|) of two arrays of one shape."
    a, b = _np(ours), _np(theirs)
    if a.shape != b.shape: return dict(shape_ours=list(a.shape), shape_theirs=list(b.shape), max_abs=None, max_rel=None)
    d = float(np.abs(a - b).max()) if a.size else 0.
    return dict(max_abs=d, max_rel=d / max(float(np.abs(b).max()) if b.size else 0., 1e-30), shape=list(a.shape))

def overlap(ours, theirs)->dict:
    "Share of chosen indices two selections have in common (|A ∩ B| / max(|A|, |B|)) and whether the order agrees."
    a, b = [int(i) for i in _np(ours).ravel()], [int(i) for i in _np(theirs).ravel()]
    common = len(set(a) & set(b))
    return dict(overlap=common / max(len(a), len(b), 1), n_ours=len(a), n_theirs=len(b), same_order=a == b)

def write_record(method:str,      # e.g. 'fapm'
                 authors:str,     # the authors' repository, owner/name
                 path,            # local checkout used
                 rows:list,       # one dict per component: component, difference fields, note
                 command:str,     # the command that reproduces this record (relative paths)
                 note:str='', out=None)->Path:
    "Write reports/records/parity_<method>.json and print the table."
    rec = dict(kind='parity', method=method, authors_repo=authors, authors_commit=authors_commit(path), command=command,
               date=datetime.date.today().isoformat(), note=note, rows=rows)
    p = Path(out) if out else RECORDS/f'parity_{method}.json'
    p.write_text(json.dumps(rec, indent=1, default=float))
    w = max(len(r['component']) for r in rows) if rows else 10
    for r in rows:
        vals = ', '.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}' for k, v in r.items() if k not in ('component', 'note'))
        print(f"{r['component']:<{w}}  {vals}" + (f"  ({r['note']})" if r.get('note') else ''))
    print(f'wrote {p} (authors commit {rec["authors_commit"][:12]})')
    return p

# --- added by the parity scripts of PatchCore, FAPM, FBFT, AnomalyDINO (additions only; the functions above are unchanged)

class _Event:
    "Stands in for torch.cuda.Event on a CPU-only machine (the authors time their loops with CUDA events)."
    def __init__(self, *a, **k): pass
    def record(self, *a, **k): pass
    def elapsed_time(self, other): return 0.

@contextlib.contextmanager
def cpu_cuda_shims():
    "Let CUDA-only calls of the authors' scripts run on CPU: `Tensor.cuda` is the identity, CUDA events and synchronize do nothing."
    import torch
    saved = torch.Tensor.cuda, torch.cuda.Event, torch.cuda.synchronize
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.cuda.Event, torch.cuda.synchronize = _Event, (lambda *a, **k: None)
    try: yield
    finally: torch.Tensor.cuda, torch.cuda.Event, torch.cuda.synchronize = saved

@contextlib.contextmanager
def recording(owner, name:str, result=None):
    "Replace `owner.name` by a recorder of its call arguments (a list of (args, kwargs)); it returns `result` when given, else calls through."
    orig, calls = getattr(owner, name), []
    def rec(*a, **k):
        calls.append((a, k))
        return result if result is not None else orig(*a, **k)
    setattr(owner, name, rec)
    try: yield calls
    finally: setattr(owner, name, orig)

def embedded_batches(category:str='puck', split_name:str='test', size=256, crop=None, n:int|None=None, square:bool=False, batch_size:int=64):
    "Images of the embedded dataset (`adnb.datasets.load_records('embedded', category)`) as one loader batch dict (first `n` records)."
    from adnb.datasets import load_records, split, make_loader
    recs = split(load_records('embedded', category), split_name)[:n]
    return next(iter(make_loader(recs, size, crop, square, batch_size=max(len(recs), 1))))

def interior(a, margin:int):
    "The array without a `margin`-pixel frame on its last two axes (where border handling cannot matter)."
    return a[..., margin:a.shape[-2] - margin, margin:a.shape[-1] - margin]

def row(component:str, note:str='', **fields)->dict:
    "One record row: the component name, its difference fields (from `diff`/`overlap` or plain numbers) and a note."
    return dict(component=component, **fields, note=note)
