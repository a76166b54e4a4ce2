"""CostFilter-AD Tables 2 (VisA image/pixel AUROC), 3 (single-class GLAD), 9 and 10 (VisA, all metrics), from the text.

Settings per method are those of the MVTec tables (1, 7, 8) with the VisA category count: `base_settings` reads them
from the rows already in costfilter.csv so the two datasets never drift apart."""
from common import block, numbers, frac, row, VISA, line_starting, paper_text

P = 'costfilter'
T2_METHODS = ['jnld', 'omnial', 'diad', 'vpdm', 'mambaad', 'glad', 'glad+costfilter', 'hvq_trans', 'hvq_trans+costfilter',
              'anomalydino', 'anomalydino+costfilter']
T9_METHODS = ['simplenet', 'destseg', 'glad', 'glad+costfilter', 'hvq_trans', 'hvq_trans+costfilter', 'anomalydino', 'anomalydino+costfilter']
GROUPS = ('Complex Structure ', 'Multiple Instances ', 'Single Instance ')
QUOTED = 'value as printed by CostFilter-AD (source not stated)'
OURS = {'anomalydino': 'experiment=costfilter;method=anomalydino;config=full-shot',
        'anomalydino+costfilter': 'experiment=costfilter;method=costfilter;config=default'}

def base_settings(existing:list, table:str)->dict:
    "method -> (backbone, resolution, protocol, notes) of the method's mean row in an MVTec table, for VisA (12 categories)."
    out = {}
    for r in existing:
        if r['table'] == table and r['category'] == 'mean' and r['method'] not in out:
            note = 'printed as "AnomalDF" (Damm et al., 2025 = AnomalyDINO)' if r['method'].startswith('anomalydino') else ''
            out[r['method']] = (r['backbone'], r['resolution'], r['protocol'].replace('all 15 categories', 'all 12 VisA categories'), note)
    if 'omnial' in out: out.setdefault('jnld', ('', '', out['omnial'][2], ''))
    return out

def visa_lines(lines:list, n:int)->list:
    "(category, numbers) of the 13 VisA lines of a table (12 categories + Mean), each with `n` numbers."
    out = []
    for label, cat in VISA.items():
        l = next(l for l in lines if any(l.strip().startswith(g + label + ' ') for g in GROUPS) or l.strip().startswith(label + ' '))
        s = l.strip()
        for g in GROUPS: s = s.removeprefix(g)
        nums = numbers(s.removeprefix(label))
        assert len(nums) == n, (label, len(nums), s)
        out.append((cat, nums))
    return out

def table2(text, existing)->list:
    lines = block(text, 'Table 2: Multi-class anomaly detection/localization results', 14)
    assert lines[0].split()[1:] == ['JNLD', 'OmniAL', 'DiAD', 'VPDM', 'MambaAD', 'GLAD', 'GLAD+Ours', 'HVQ-Trans', 'HVQ-Trans+Ours', 'AnomalDF', 'AnomalDF+Ours'], lines[0]
    st, out = base_settings(existing, 'CostFilter Table 1'), []
    for cat, nums in visa_lines(lines[1:], 22):
        for i, m in enumerate(T2_METHODS):
            bb, res, prot, note = st[m]
            for j, metric in enumerate(('image_auroc', 'pixel_auroc')):
                out.append(row(P, 'CostFilter Table 2', m, 'visa', cat, metric, frac(nums[2 * i + j]), backbone=bb, resolution=res,
                               protocol=prot, notes=note))
    return out

def table3(text)->list:
    lines = block(text, 'Table 3: Extended studies on single-class UAD with our models.', 7)
    assert lines[1].split() == ['AU-ROC', 'AP', 'F1_max', 'AU-ROC', 'AP', 'F1_max', 'AU-PRO'], lines[1]
    metrics = ('image_auroc', 'image_ap', 'image_f1max', 'pixel_auroc', 'pixel_ap', 'pixel_f1max', 'aupro_30')
    prot = ('one-class ("single-class UAD": one model per category), full-shot training data; {}; '
            'AU-PRO integration limit not stated (taken as 0.3)')
    out = []
    for start, ds, m in (('MVTec-AD Glad', 'mvtec_ad', 'glad'), ('+Ours', 'mvtec_ad', 'glad+costfilter'),
                         ('VisA Glad', 'visa', 'glad'), ('+Ours', 'visa', 'glad+costfilter')):
        hits = [l for l in lines[2:] if l.startswith(start)]
        l = hits[0] if ds == 'mvtec_ad' or start != '+Ours' else hits[1]
        nums = numbers(l.removeprefix(start))
        assert len(nums) == 7, l
        what = 'GLAD reproduced by the CostFilter-AD authors' if m == 'glad' else 'GLAD + the cost filter (N=3 templates from the denoising steps)'
        out += [row(P, 'CostFilter Table 3', m, ds, 'mean', k, frac(v), resolution=256, protocol=prot.format(what))
                for k, v in zip(metrics, nums)]
    return out

def table9_10(text, existing, table:int)->list:
    cap = {9: 'Table 9: Multi-class anomaly detection benchmarking on VisA', 10: 'Table 10: Multi-class anomaly localization benchmarking on VisA'}[table]
    metrics = {9: ('image_auroc', 'image_ap', 'image_f1max'), 10: ('pixel_auroc', 'pixel_ap', 'pixel_f1max', 'aupro_30')}[table]
    lines = block(text, cap, 15)
    assert lines[0].split()[2:] == ['SimpleNet', 'DeSTSeg', 'GLAD', 'GLAD+Ours', 'HVQ-Trans', 'HVQ-Trans+Ours', 'AnomalDF', 'AnomalDF+Ours'], lines[0]
    st, k, out = base_settings(existing, f'CostFilter Table {table - 2}'), len(metrics), []
    for cat, nums in visa_lines(lines[2:], 8 * k):
        for i, m in enumerate(T9_METHODS):
            bb, res, prot, note = st[m]
            if table == 10: prot += '' if 'AU-PRO' in prot else '; AU-PRO integration limit not stated (taken as 0.3)'
            for j, metric in enumerate(metrics):
                out.append(row(P, f'CostFilter Table {table}', m, 'visa', cat, metric, frac(nums[k * i + j]), backbone=bb, resolution=res,
                               protocol=prot, notes=note))
    return out

def build(existing:list)->list:
    text = paper_text(P)
    return table2(text, existing) + table3(text) + table9_10(text, existing, 9) + table9_10(text, existing, 10)
