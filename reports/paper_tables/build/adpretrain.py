"""ADPretrain Tables 2 (ablations), 3 (sample efficiency, robustness), 4 (reference-set variance), 6 (pretraining
data), 8-13 (hyper-parameters), from the text. Cells print "image AUROC/PRO" in percent; a † cell may add its printed
change ("+15.4"), checked against the two printed values and noted when it disagrees; Table 4 prints "±sd"."""
import re
from decimal import Decimal
from common import block, row, paper_text, frac, fmt

P = 'adpretrain'
DS = {'MVTecAD': 'mvtec_ad', 'VisA': 'visa', 'BTAD': 'btad', 'MVTec3D': 'mvtec_3d', 'MPDD': 'mpdd'}
DET = {'PaDiM': 'padim', 'PatchCore': 'patchcore', 'FeatureNorm': 'featurenorm'}
IMAGEBIND = 'ImageBind (blocks 8,16,24,32)'
CELL = re.compile(r'^(\d+\.\d+)(?:([+-]\d+\.\d+)|±(\d+\.\d+))?/(\d+\.\d+)(?:([+-]\d+\.\d+)|±(\d+\.\d+))?$')
BASE = 'one model per category; 224x224 (resize + crop); PRO integration limit not stated (taken as 0.3)'
ORIG = 'original features of the backbone (no residual features, no pretrained projector)'
PRE = 'residual features against 8 normal reference images; projector pretrained on RealIAD (10 epochs, Adam 1e-4, batch 32, seed 42)'
ABL = 'ablation on VisA (§4.3: "We perform ablation experiments on the VisA dataset"); dataset-level mean over categories'
HYP = ('hyper-parameter ablation (Appendix E; dataset not restated there, taken as VisA like the ablations of §4.3); '
       'dataset-level mean over categories')

def fields(l): return [f.strip() for f in l.split('\t')]

def cell(s:str)->list:
    "'96.8+15.4/90.3+1.7' -> [(value, printed change or None, sd or None), (...)] for image AUROC and PRO."
    m = CELL.match(s.replace(' ', ''))
    assert m, f'cell {s!r}'
    a, da, sa, b, db, sb = m.groups()
    return [(a, da, sa), (b, db, sb)]

def ours_for(method:str, features:str, **kw)->str:
    det = method.split('+')[0]
    if det not in DET.values(): return ''
    return ';'.join([f'experiment=adpretrain;detector={det};features={features}'] + [f'{k}={v}' for k, v in kw.items()])

def emit(table, method, ds, s, backbone, protocol, base=None, ours='', notes='')->list:
    "Two rows (image_auroc, aupro_30) of one cell; `base` is the cell of the same detector without † (for the printed change)."
    out = []
    for (v, d, sd), metric, b in zip(cell(s), ('image_auroc', 'aupro_30'), cell(base) if base else (None, None)):
        n = ([f'quoted in {table} (reproduced by the ADPretrain authors)'] if method in ('patchcore', 'padim') else []) + ([notes] if notes else [])
        if d is not None and b is not None:
            diff = Decimal(v) - Decimal(b[0])
            if diff != Decimal(d):
                n.append(f'printed change "{d}" has the wrong sign: {v} - {b[0]} = {fmt(diff):+}' if abs(diff) == abs(Decimal(d))
                         else f'printed change "{d}" does not equal {v} - {b[0]} = {diff:+}')
        out.append(row(method if method in ('patchcore', 'padim') else P, table, method, ds, 'mean', metric, frac(v), sd=frac(sd) if sd else '', backbone=backbone, resolution=224,
                       protocol=protocol, ours=ours, notes=' | '.join(n)))
    return out

def table2(text)->list:
    lines = block(text, 'Table 2: Ablation study results.', 10)
    assert fields(lines[1])[:8] == ['ExpID', 'Pretrained Representations', 'Contrastive Losses', 'Feature Projector', 'Backbone Network',
                                    'PaDiM', 'PatchCore', 'FeatureNorm'], lines[1]
    out, rep = [], None
    for l in lines[2:10]:
        f = fields(l); rep = f[1] or rep
        exp, loss, proj, bb = f[0], f[2], f[3], f[4]
        variant = (f'ExpID {exp}: {rep.lower()} features; contrastive losses {"none" if loss == "/" else loss}; '
                   f'Feature Projector {"yes" if proj == "w/" else "none"}; backbone {bb.lower()} during pretraining')
        orig = exp == '2.1'
        for det, c in zip(('padim', 'patchcore', 'featurenorm'), f[5:8]):
            m = det if orig else f'{det}+adpretrain'
            ours = ours_for(m, 'original') if orig else ours_for(m, 'residual|residual_only|residual-only') if exp == '2.4' else \
                   ours_for(m, 'pretrained-paper|pretrained') if exp == '2.7' else ''
            out += emit('ADPretrain Table 2', m, 'visa', c, IMAGEBIND, f'{ABL}; {BASE}; (a) framework: {variant}', ours=ours)
        if len(f) > 8 and f[8]:
            for det, c in zip(('padim', 'patchcore', 'featurenorm'), f[9:12]):
                out += emit('ADPretrain Table 2', f'{det}+adpretrain', 'visa', c, IMAGEBIND,
                            f'{ABL}; {BASE}; (b) Feature Projector architecture: {f[8]}; residual features, angle and norm losses, backbone fixed')
    return out

def table3(text)->list:
    lines = block(text, 'Table 3: Sample efficiency and robustness analysis.', 8)
    assert fields(lines[1]) == ['Datasets', 'PaDiM', 'PaDiM†', 'PatchCore', 'PatchCore†'] * 2, lines[1]
    out = []
    for l in lines[2:7]:
        f = fields(l)
        for part, (lab, cells) in enumerate(((f[0], f[1:5]), (f[5], f[6:10]))):
            what = ('(a) sample efficiency: 10% of the normal training images of each category' if part == 0 else
                    '(b) robustness: abnormal test images added to the training set, noise ratio 0.1 ("overlap" setting of SoftPatch)')
            for i, det in enumerate(('padim', 'patchcore')):
                o, p = cells[2 * i], cells[2 * i + 1]
                out += emit('ADPretrain Table 3', det, DS[lab], o, '', f'{what}; {BASE}; {ORIG}',
                            notes='backbone not stated for Table 3 (§4.4)')
                out += emit('ADPretrain Table 3', f'{det}+adpretrain', DS[lab], p, '', f'{what}; {BASE}; {PRE}', base=o,
                            notes='backbone not stated for Table 3 (§4.4)')
    return out

def table4(text)->list:
    lines = block(text, 'Table 4: Reference set sensitivity experiments.', 6)
    assert fields(lines[0]) == ['Datasets', 'PaDiM', 'PaDiM <sup>†</sup>', 'PatchCore', 'PatchCore <sup>†</sup>'], lines[0]
    out, note = [], 'backbone taken as ImageBind: the non-† MVTecAD/VisA/BTAD/MPDD cells equal ImageBind\'s in Table 1'
    for l in lines[1:6]:
        f = fields(l)
        for i, det in enumerate(('padim', 'patchcore')):
            o, p = f[1 + 2 * i], f[2 + 2 * i]
            out += emit('ADPretrain Table 4', det, DS[f[0]], o, IMAGEBIND, f'dataset-level mean over categories; {BASE}; {ORIG}', notes=note)
            out += emit('ADPretrain Table 4', f'{det}+adpretrain', DS[f[0]], p, IMAGEBIND,
                        f'dataset-level mean over categories; {BASE}; {PRE}; mean ± sd over different normal reference sets (count not stated)',
                        notes=note + '; sd (±, as printed) in the sd column')
    return out

def table6(text)->list:
    lines = block(text, 'Table 6: Experimental analysis of the impact of pretraining dataset scale.', 6)
    head = fields(lines[0])
    assert head == ['Datasets', 'PaDiM (RealIAD)', 'PaDiM ( MVTecAD)', 'PatchCore (RealIAD)', 'PatchCore (MVTecAD)'], head
    out = []
    for l in lines[1:6]:
        f = fields(l)
        for c, h in zip(f[1:5], head[1:5]):
            det, data = DET[h.split(' ')[0]], h.split('(')[1].strip(' )')
            prot = (f'dataset-level mean over categories; {BASE}; residual features against 8 normal reference images; projector pretrained on '
                    f'{data} (Appendix B.1)')
            out += emit('ADPretrain Table 6', f'{det}+adpretrain', DS[f[0]], c, '', prot,
                        notes='backbone not stated for Table 6' + ('; pretraining and test on MVTecAD overlap ("a serious data leakage", Appendix B.2)'
                                                                   if data == 'MVTecAD' and f[0] == 'MVTecAD' else ''))
    return out

HYPER = {8: ('Table 8: Ablation studies about the temperature', 'tau', 'temperature tau of the angle-oriented contrastive loss (default 0.15)'),
         9: ('Table 9: Ablation studies about the margin', 'delta_r', 'margin Delta r of the norm-oriented contrastive loss (default 0.75)'),
         10: ('Table 10: Ablation studies about the loss weight', 'lambda', 'loss weight lambda of eq. 7 (default 1)'),
         11: ('Table 11: Ablation studies about the number of attention layers', 'L', 'attention layers L in the Feature Projector (default 1)'),
         12: ('Table 12: Ablation studies about the number of learnable reference', 'N_r', 'learnable reference representations N_r (default 2048)'),
         13: ('Table 13: Ablation studies about the number of reference samples', 'K', 'reference samples per input during pretraining K (default Rand(1, 4, 8))')}

def hyper(text, n:int)->list:
    cap, sym, what = HYPER[n]
    lines = block(text, cap, 4)
    head = fields(lines[0]); assert head[0].startswith('Method \\'), head
    out = []
    for l in lines[1:4]:
        f = fields(l); det = DET[f[0]]
        assert len(f) == len(head), l
        for v, c in zip(head[1:], f[1:]):
            out += emit(f'ADPretrain Table {n}', f'{det}+adpretrain', 'visa', c, IMAGEBIND, f'{HYP}; {BASE}; {PRE}; {what}: {sym}={v}')
    return out

def build(existing)->list:
    text = paper_text(P)
    return table2(text) + table3(text) + table4(text) + table6(text) + sum((hyper(text, n) for n in range(8, 14)), [])
