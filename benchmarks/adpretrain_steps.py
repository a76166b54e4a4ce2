"Seconds per ADPretrain pretraining step (Lite0 blocks.2+4, 256 -> crop 224, embedded brick/grass/gravel/puck) by N_r and batch size, one thread."
import json, sys, time, numpy as np, torch
from adnb.adpretrain import ADPretrain, _Data, _batch, _step_loss, compute_stats, pretrain_items, val_split, norm_loss, _level_tokens, pool_textures
from adnb.datasets import make_embedded, load_records
torch.set_num_threads(1)
root = make_embedded()
recs = [r for c in ('brick', 'grass', 'gravel', 'puck') for r in load_records('embedded', c, str(root))]
train, held = val_split(recs, 0.2, 42); items = pretrain_items(train)
out = dict(command='OMP_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/adpretrain_steps.py ' + ' '.join(sys.argv[1:]), date=time.strftime('%Y-%m-%d'), n_items=len(items), rows=[])
configs = [(int(a.split('x')[0]), int(a.split('x')[1])) for a in sys.argv[1:]] or [(2048, 32), (512, 32), (256, 32), (256, 16)]
for n_ref, bs in configs:
    m = ADPretrain(n_ref=n_ref); rng = np.random.default_rng(0); gen = torch.Generator().manual_seed(0); torch.manual_seed(0)
    data = _Data(m, items, 256, 224, 'cpu', 32); _, data.textures = pool_textures(['brick', 'grass', 'gravel', 'puck'], 224)
    sc, _, ce = compute_stats(m, data, seed=0, scale='pool')     # the recorded run's rule: one median of the pool
    for l in m.levels: m.scale(l).copy_(sc[l]); m.center(l).copy_(ce[l])
    opt = torch.optim.Adam(m.projectors.parameters(), 1e-4); ts = []
    for step in range(4):
        batch = [items[i] for i in rng.permutation(len(items))[:bs]]
        t = time.perf_counter()
        x1, x2, ms, refs, k = _batch(m, data, batch, rng, (1, 4, 8), 'cpu', 32/196)
        loss = _step_loss(m, x1, x2, ms, refs, 'code', 0.15, 1., 2048, gen, 32/196)
        opt.zero_grad(); loss.backward(); opt.step(); ts.append(time.perf_counter() - t)
    with torch.no_grad():
        f = (m.features(x1), m.features(x2)); parts = {}
        for l in m.levels:
            z1, z2, mm = _level_tokens(m, l, *f, ms, refs, 32/196)
            P = norm_loss(z1, mm, variant='code', parts=True); parts[l] = {k: float(v) for k, v in P.items()}
    row = dict(n_ref=n_ref, batch=bs, s_per_step=float(np.median(ts[1:])), steps_per_s=1 / float(np.median(ts[1:])), all_s=ts,
               scales={l: float(v) for l, v in sc.items()}, last_loss=float(loss), norm_parts=parts)
    out['rows'].append(row); print(json.dumps(row), flush=True)
if '--save' in sys.argv: pass
json.dump(out, open('reports/records/adpretrain_steps_cpu.json', 'w'), indent=1)
