"""Shared helpers of the paper-table builders: the papers' text, table lines, exact decimal conversion, row dicts.

Nothing here knows a number: every value comes from a line of `../shared/papers/<paper>.txt` (ADNB_PAPERS overrides
the folder) and is converted with `decimal` (no float rounding)."""
import csv, os, re
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
TABLES = HERE.parent                                      # reports/paper_tables
PAPERS_DIR = Path(os.environ.get('ADNB_PAPERS') or TABLES.parents[1].parent/'shared'/'papers')
COLUMNS = ['paper', 'table', 'method', 'dataset', 'category', 'metric', 'value', 'sd', 'unit', 'backbone', 'resolution',
           'shots', 'protocol', 'ours', 'notes']
KEY = ('paper', 'table', 'method', 'dataset', 'category', 'metric', 'backbone', 'resolution', 'shots', 'protocol')
FILES = {'fapm': 'fapm_fast_adaptive_patch_memory.txt', 'fbft': 'fbft_forward_backward_feature_transfer.txt',
         'dfm': 'dfm_differentiable_feature_matching.txt', 'costfilter': 'costfilter_ad_matching_cost_filtering.txt',
         'adpretrain': 'adpretrain_anomaly_representation_pretraining.txt'}
VISA = {'PCB1': 'pcb1', 'PCB2': 'pcb2', 'PCB3': 'pcb3', 'PCB4': 'pcb4', 'Macaroni1': 'macaroni1', 'Macaroni2': 'macaroni2',
        'Capsules': 'capsules', 'Candles': 'candle', 'Cashew': 'cashew', 'Chewing gum': 'chewinggum', 'Fryum': 'fryum',
        'Pipe Fryum': 'pipe_fryum', 'Mean': 'mean'}
NUM = re.compile(r'(?<![\w.])\d+(?:\.\d*)?')

def paper_text(paper:str)->str:
    p = PAPERS_DIR/FILES[paper]
    if not p.is_file(): raise SystemExit(f"paper text {p} not found (set ADNB_PAPERS to the folder of the papers' .txt files)")
    return p.read_text(encoding='utf-8')

def block(text:str, start:str, n:int)->list[str]:
    "The `n` lines after the unique line that starts with `start` (the table caption), blank lines dropped."
    lines = text.splitlines()
    at = [i for i, l in enumerate(lines) if l.startswith(start)]
    assert len(at) == 1, f'{len(at)} lines start with {start!r}'
    out = [l for l in lines[at[0] + 1:] if l.strip()]
    return out[:n]

def line_starting(lines:list, start:str)->str:
    hit = [l for l in lines if l.lstrip().startswith(start)]
    assert len(hit) == 1, f'{len(hit)} table lines start with {start!r}'
    return hit[0]

def numbers(s:str)->list[str]:
    "The printed numbers of a table line, as printed ('100.' stays '100.'), HTML tags dropped."
    return NUM.findall(re.sub(r'</?\w+>', '', s))

def frac(s:str)->str:
    "A printed percent as an exact fraction string: '99.2' -> '0.992', '100.' -> '1', '99.0' -> '0.99'."
    return fmt(Decimal(s.rstrip('.') or '0') / 100)

def fmt(d:Decimal)->str:
    s = format(d.normalize(), 'f')
    return s if '.' not in s else s.rstrip('0').rstrip('.')

def as_printed(s:str)->str:
    "A number printed as a fraction or in its unit, kept as printed apart from trailing zeros."
    return fmt(Decimal(s))

def row(paper, table, method, dataset, category, metric, value, unit='fraction', backbone='', resolution='', shots='full',
        protocol='', ours='', notes='', sd='')->dict:
    return dict(paper=paper, table=table, method=method, dataset=dataset, category=category, metric=metric, value=value, sd=sd,
                unit=unit, backbone=backbone, resolution=str(resolution), shots=str(shots), protocol=protocol, ours=ours, notes=notes)

def read_csv(p:Path)->list[dict]:
    with open(p, newline='', encoding='utf-8') as f: rows = list(csv.DictReader(f))
    for r in rows: r.setdefault('sd', '')
    return rows

def write_csv(p:Path, rows:list):
    with open(p, 'w', newline='', encoding='utf-8') as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator='\n'); w.writeheader(); w.writerows({c: r.get(c, '') for c in COLUMNS} for r in rows)

def add_note(r:dict, note:str):
    "Append `note` to the row's notes once (idempotent)."
    if note not in r['notes']: r['notes'] = ' | '.join(filter(None, [r['notes'], note]))
