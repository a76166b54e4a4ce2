"""Checks of the generated rows against the paper and each other; findings go into the rows' notes (never fixed).

- every value is found verbatim (as printed) in its paper's text;
- a printed mean more than 0.001 from the mean of its complete per-category rows is noted;
- the same number printed differently in two tables (CostFilter Table 2 vs Tables 9/10) is noted on both rows."""
import re
from collections import defaultdict
from decimal import Decimal
from common import add_note, fmt, KEY

MVTEC = {'bottle', 'cable', 'capsule', 'carpet', 'grid', 'hazelnut', 'leather', 'metal_nut', 'pill', 'screw', 'tile', 'toothbrush',
         'transistor', 'wood', 'zipper'}
VISA = {'candle', 'capsules', 'cashew', 'chewinggum', 'fryum', 'macaroni1', 'macaroni2', 'pcb1', 'pcb2', 'pcb3', 'pcb4', 'pipe_fryum'}
PERCENT = ('CostFilter', 'ADPretrain', 'DFM', 'FAPM')              # these papers print rates in percent

def printed_forms(r:dict)->list:
    "How the row's value can appear in the paper's text."
    v = Decimal(r['value'])
    if r['unit'] == 'fraction' and r['table'].startswith(PERCENT):
        p = fmt(v * 100)
        out = [p, p + '0'] if '.' in p else [p, p + '.', p + '.0', p + '.00']
    else:
        p = r['value']; out = [p, fmt(v)] + [fmt(v) + z for z in ('0', '00', '000')] + ([fmt(v) + '.0', fmt(v) + '.000'] if '.' not in fmt(v) else [])
    if r['sd']: out = [f'{o}±' for o in out]
    return out

def found(r:dict, text:str)->bool:
    return any(re.search(rf'(?<![\d.]){re.escape(f)}' + (r'(?![\d])' if f[-1].isdigit() else ''), text) for f in printed_forms(r))

def means(rows:list):
    groups = defaultdict(list)
    for r in rows:
        if r['unit'] == 'fraction' and r['metric'] != 'forgetting': groups[tuple(r[k] for k in KEY if k != 'category')].append(r)
    for rs in groups.values():
        full = {'mvtec_ad': MVTEC, 'visa': VISA}.get(rs[0]['dataset'])
        cats = {r['category']: Decimal(r['value']) for r in rs if r['category'] != 'mean'}
        mean = [r for r in rs if r['category'] == 'mean']
        if not mean or not full or set(cats) != full: continue
        m = sum(cats.values()) / len(cats); d = Decimal(mean[0]['value']) - m
        if abs(d) > Decimal('0.001'):
            add_note(mean[0], f"printed mean {mean[0]['value']} differs from the mean of the {len(cats)} printed per-category values, "
                              f"{m:.4f} (diff {d:+.4f})")

def across(rows:list, a:str, b:str):
    "Note every (method, dataset, category, metric) printed differently in tables `a` and `b`."
    idx = defaultdict(dict)
    for r in rows:
        if r['table'] in (a, b): idx[(r['method'], r['dataset'], r['category'], r['metric'])][r['table']] = r
    for (m, ds, c, k), t in idx.items():
        if len(t) == 2 and Decimal(t[a]['value']) != Decimal(t[b]['value']):
            msg = f"{a} prints {t[a]['value']} but {b} prints {t[b]['value']} for the same {k} ({m}, {c})"
            add_note(t[a], msg); add_note(t[b], msg)
