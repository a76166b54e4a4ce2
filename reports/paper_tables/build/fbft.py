"""FBFT Tables 2 (quartile rows Q1-Q3, Q-bar), 3 (inference time vs resolution), 5, 9, 11, 12, 13, from the text.

The extraction is tab-separated; the first field of some lines is a page-margin line number, so values are read
by field, never by searching a line for numbers."""
import re
from common import block, row, paper_text, as_printed, line_starting

P = 'fbft'
HIGH = ('high resolution, no centre crop; maps upsampled to the original ground-truth size; AUPRO over all test images '
        '(normal + anomalous); fixed epochs, last checkpoint (FBFT §4.3)')
LOW = ("input {r}x{r} (the method's official low resolution, FBFT §5), no centre crop; maps upsampled to the original "
       "ground-truth size; AUPRO over all test images (normal + anomalous); fixed epochs, last checkpoint (FBFT §4.3)")
BB = {'patchcore': 'wide_resnet101_2', 'simplenet': 'wide_resnet50_2', 'efficientad': 'EfficientAD-M (own PDN)', 'rdpp': 'wide_resnet50_2',
      'fbft': 'dinov2_vitb14 (layers j=8, k=12)', 'spade': 'wide_resnet101_2'}
HIGH_RES = {'patchcore': 512, 'simplenet': 512, 'efficientad': 1036, 'rdpp': 1036, 'fbft': 1036}
NAMES = {'PatchCore': 'patchcore', 'SimpleNet': 'simplenet', 'EfficientAD': 'efficientad', 'RD++': 'rdpp', 'FBFT (Ours)': 'fbft',
         'FBFT': 'fbft', 'SPADE': 'spade'}
OURS = {'patchcore': 'experiment=patchcore;method=patchcore', 'fbft': 'experiment=fbft;config=default'}
QUOTED = {'patchcore': 'quoted in {t}'}
T3 = ('ms_per_image', 'image_auroc', 'aupro_30_q1', 'aupro_30_q2', 'aupro_30_q3', 'aupro_30', 'aupro_30_qmean', 'rho_30',
      'aupro_5_q1', 'aupro_5_q2', 'aupro_5_q3', 'aupro_5', 'aupro_5_qmean', 'rho_5')
Q_NOTE = {'q1': 'cumulative quartile Q1 (the smallest quarter of the defects)', 'q2': 'cumulative quartile Q2 (defects up to the median size)',
          'q3': 'cumulative quartile Q3 (defects up to the third size quartile)', 'qmean': 'Q-bar = mean of Q1..Q4'}
TIME = 'inference time per sample from the sample on the GPU to the anomaly scores, after warm-up (FBFT §5); one NVIDIA GeForce RTX 4090'

def fields(l:str)->list: return [f.strip() for f in l.split('\t')]

def mk(table, m, metric, v, res, protocol, ds='visa', cat='mean', backbone=None, ours=None, notes='', unit='fraction'):
    q = QUOTED.get(m, '').format(t=table)
    return row('patchcore' if m == 'patchcore' else P, table, m, ds, cat, metric, as_printed(v), unit=unit,
               backbone=BB.get(m, '') if backbone is None else backbone, resolution=res, protocol=protocol,
               ours=OURS.get(m, '') if ours is None else ours, notes=' | '.join(filter(None, [q, notes])))

def table2_quartiles(text)->list:
    lines = block(text, 'Table 2: **Quartile-based segmentation metrics.**', 11)
    assert fields(lines[1])[:8] == ['ALGORITHM', 'DATASET', 'Q_1', 'Q_2', 'Q_3', 'Q_4', '\\overline{Q}', '$\\rho@30\\%$'], lines[1]
    out = []
    for i, l in enumerate(lines[2:11]):
        f = fields(l); m, ds = NAMES[f[0]], 'visa' if i < 5 else 'mvtec_ad'
        v = f[2:]
        assert len(v) == 12, l
        for lim, off in ((30, 0), (5, 6)):
            for q, j in (('q1', 0), ('q2', 1), ('q3', 2), ('qmean', 4)):
                out.append(mk('FBFT Table 2', m, f'aupro_{lim}_{q}', v[off + j], HIGH_RES[m], f'{HIGH}; {Q_NOTE[q]}', ds=ds))
    return out

def table3(text)->list:
    lines = block(text, 'Table 3: Performance and inference time on VisA at different input resolution.', 9)
    assert fields(lines[2])[1:5] == ['ALGORITHM', '', '', 'I-AUROC'], lines[2]
    out, lo = [], 'input at the official low resolution ("Original"; 224x224 as in FBFT Table 5, which prints the same Q4 values)'
    def emit(m, vals, res, prot, only=None, notes=''):
        for k, v in zip(T3, vals):
            if only and k not in only: continue
            out.append(mk('FBFT Table 3', m, k, v, res, f'{prot}; {TIME}' if k == 'ms_per_image' else prot,
                          unit='ms' if k == 'ms_per_image' else 'fraction', notes=notes,
                          ours='' if res == 224 and m != 'fbft' else ('experiment=fbft;config={"image_size": 224}' if m == 'fbft' and res == 224 else None)))
    low = lambda r: LOW.format(r=r)
    pc = fields(line_starting(lines, '436\tPatchCore')); assert len(pc[3:]) == 14, pc
    emit('patchcore', pc[3:], 224, low(224), notes=lo)
    both = fields(line_starting(lines, '120\tRD++ FBFT (Ours)'))[3:]          # two rows merged: every cell holds "RD++ FBFT"
    assert len(both) == 14 and all(len(c.split()) == 2 for c in both), both
    emit('rdpp', [c.split()[0] for c in both], 224, low(224), notes=lo + '; the extraction merged the RD++ and FBFT rows cell by cell (RD++ first)')
    emit('fbft', [c.split()[1] for c in both], 224, low(224), notes=lo + '; the extraction merged the RD++ and FBFT rows cell by cell (FBFT second)')
    for lab in ('430\tPatchCore', '439\tSimpleNet'):
        f = fields(line_starting(lines, lab)); assert len(f[3:]) == 14, f
        emit(NAMES[f[1]], f[3:], HIGH_RES[NAMES[f[1]]], HIGH)
    hi = fields(line_starting(lines, '440\tRD++ FBFT (Ours)'))
    t = hi[3].split(); assert len(t) == 2, hi                               # only the two times are unambiguous in this merged row
    note = 'only the inference time is kept from this merged row (EfficientAD, RD++ and FBFT cells run together; its metrics repeat FBFT Tables 1-2)'
    emit('rdpp', [t[0]], 1036, HIGH, notes=note); emit('fbft', [t[1]], 1036, HIGH, notes=note)
    return out

def seg_table(text, header, table, n)->list:
    "Tables 5 and 9 (the text puts Table 5's rows above its caption): ALGORITHM BACKBONE RESOLUTION AUPRO@30% AUPRO@5% on VisA."
    lines = [l for l in block(text, header, 12) if [x for x in fields(l) if x][:1] and [x for x in fields(l) if x][0] in NAMES]
    out = []
    for l in lines[:n]:
        f = [x for x in fields(l) if x]
        m, bb, res = NAMES[f[0]], f[1], int(re.findall(r'\d+', ' '.join(f[2:-2]))[0])
        backbone = {'WideResNet101': 'wide_resnet101_2', 'WideResNet50': 'wide_resnet50_2', 'Custom': 'EfficientAD-M (own PDN)',
                    'ViT/B-16': 'vit_b16 (ImageNet-pretrained; layers not stated)',
                    'DINO-v2': BB['fbft'] if m == 'fbft' else 'DINO-v2 (ViT size not stated)'}[bb]
        prot = HIGH if res > 224 else LOW.format(r=224)
        ours = '' if m not in OURS or backbone != BB[m] else None
        if m == 'fbft' and res == 224 and backbone == BB['fbft']: ours = 'experiment=fbft;config={"image_size": 224}'
        note = ''
        if m == 'fbft' and res == 224 and backbone == BB['fbft']:
            note = 'FBFT Table 10 prints AUPRO@30% 0.830 and AUPRO@5% 0.562 for FBFT trained and tested at 224x224, where Tables 3 and 5 print 0.831 and 0.688'
        for metric, v in (('aupro_30', f[-2]), ('aupro_5', f[-1])):
            out.append(mk(table, m, metric, v, res, prot, backbone=backbone, ours=ours, notes=note))
    assert len(out) == 2 * n, (table, len(out))
    return out

def table11(text)->list:
    lines = block(text, 'Table 11: Segmentation metrics on VisA.', 6)
    assert fields(lines[0]) == ['ALGORITHM', 'P-AUROC', 'AUPRO@30%', 'AUPRO@5%'], lines[0]
    out = []
    for l in lines[1:6]:
        f = fields(l); m = NAMES[f[0]]
        out += [mk('FBFT Table 11', m, k, v, HIGH_RES[m], HIGH) for k, v in zip(('pixel_auroc', 'aupro_30', 'aupro_5'), f[1:4])]
    return out

VISA12 = ('candle', 'capsules', 'cashew', 'chewinggum', 'fryum', 'macaroni1', 'macaroni2', 'pcb1', 'pcb2', 'pcb3', 'pcb4', 'pipe_fryum', 'mean')

def table12(text)->list:
    lines = block(text, 'Table 12: **I-AUROC and AUPRO30**@%', 16)
    assert fields(lines[0])[2:] == ['candre', 'capsures', 'cashew', 'chewinggui', '1 f y uni', 'macaroniii', 'IllaCaroniz', 'pepr', 'pebz',
                                    'peps', 'pep4', 'prpe_rryum', 'NILAN'], lines[0]     # garbled header: candle ... pipe_fryum, MEAN
    out, metric = [], None
    for l in lines[1:16]:
        f = fields(l)
        metric = {'I-AUROC': 'image_auroc', 'AUPRO@30%': 'aupro_30', 'AUPRO@5%': 'aupro_5'}.get(f[0], metric)
        m = NAMES[f[1].split(' ')[0] if not f[1].startswith('FBFT') else 'FBFT (Ours)']
        vals = [v.replace('<u>', '').replace('</u>', '') for v in f[2:]]
        assert len(vals) == 13, l
        out += [mk('FBFT Table 12', m, metric, v, HIGH_RES[m], HIGH, cat=c, ours='' if c != 'mean' else None) for c, v in zip(VISA12, vals)]
    return out

def table13(text)->list:
    lines = block(text, 'Table 13: **Training time required on the VisA dataset.**', 3)
    head, vals = fields(lines[1]), fields(lines[2])
    assert head[1:] == ['ALGORITHM', 'PatchCore Roth et al. (2022)', 'SimpleNet Liu et al. (2023)', 'EfficientAD Batzner et al. (2024)',
                        'RD++ Tien et al. (2023)', 'FBFT (Ours)', '', '', '', '', ''], head
    out = []
    for name, v in zip(head[2:7], vals[2:7]):
        m = NAMES[name.split(' ')[0] if not name.startswith('FBFT') else 'FBFT (Ours)']
        out.append(mk('FBFT Table 13', m, 'train_s', v, HIGH_RES[m], f'{HIGH}; average training time per class with the epochs of the official implementations; one NVIDIA GeForce RTX 4090',
                      unit='h', ours=''))
    return out

def build(existing)->list:
    text = paper_text(P)
    return (table2_quartiles(text) + table3(text) + seg_table(text, '\tALGORITHM\tBACKBONE\tINPUT RES\tSOLUTION', 'FBFT Table 5', 7)
            + seg_table(text, 'ALGORITHM\tBACKBONE\tINPUT RESOLUTION\tAUPRO@30%', 'FBFT Table 9', 7) + table11(text) + table12(text) + table13(text))
