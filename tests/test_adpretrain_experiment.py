"The ADPretrain experiment notebook (nbs/experiments/adpretrain.ipynb) at tiny size on the embedded dataset."
import json
from pathlib import Path
import pytest
from adnb.cli import main
from adnb.run import run_experiment, resolve_params, find_experiment, ExperimentError

NB = find_experiment('adpretrain')

def test_profiles_resolve_before_the_kernel():
    ci, name = resolve_params(NB, {})
    assert name == 'ci' and (ci['image_size'], ci['crop'], ci['epochs'], ci['n_ref'], ci['max_anchors']) == (64, 0, 1, 64, 512)
    paper, name = resolve_params(NB, dict(dataset='mvtec_ad'))
    assert name == 'paper' and (paper['image_size'], paper['crop'], paper['epochs'], paper['n_ref'], paper['max_anchors']) == (256, 224, 10, 2048, 2048)

@pytest.mark.parametrize('name,value,msg', [
    ('metric', 'dot', "parameter metric must be one of l2 | cosine (got 'dot')"),
    ('loss_variant', 'x', "parameter loss_variant must be one of paper | code (got 'x')"),
])
def test_bad_parameter_refused_before_the_kernel(tmp_path, name, value, msg):
    with pytest.raises(SystemExit) as e: main(['run', 'adpretrain', '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert e.value.code == f'adnb: {msg}'

@pytest.mark.slow
def test_leak_guard_refuses_the_evaluation_category(tmp_path):
    "The leak guard is a rule checked before the kernel starts: nothing is pretrained, no report folder is made."
    from adnb.experiment import ParameterError
    with pytest.raises(ParameterError, match=r"must not include the evaluation category .*category='puck', pretrain_categories=\['brick', 'puck'\]"):
        run_experiment('adpretrain', dict(category='puck', pretrain_categories=['brick', 'puck']), reports=tmp_path/'rep', progress=False)
    assert not (tmp_path/'rep').exists()

P = dict(category='puck', pretrain_categories=['brick'], image_size=32, max_steps=1, batch_size=8, fewshot=[2], tsne_points=100, n_gallery=2)

@pytest.mark.slow
def test_tiny_run_rows_and_pretraining_record(tmp_path):
    "Nine Table-1 rows (original / residual / pretrained per detector) + five few-shot rows; pretraining categories and per-epoch validation recorded; the checkpoint is saved."
    out = run_experiment('adpretrain', P, reports=tmp_path/'rep', progress=False)
    r = json.loads((out/'results.json').read_text())
    rows = r['results']
    assert r['experiment'] == 'adpretrain' and r['pretrain']['categories'] == ['brick'] and r['pretrain']['history'][1]['steps'] == 1
    full = [(x['detector'], x['features']) for x in rows if x['setting'] == 'full']
    assert full == [(d, f) for d in ('patchcore', 'padim', 'featurenorm') for f in ('original', 'residual', 'pretrained')]
    few = [(x['detector'], x['features'], x['shots']) for x in rows if x['setting'] == 'fewshot']
    assert few == [('patchcore', 'original', 2), ('patchcore', 'residual', 2), ('patchcore', 'pretrained', 2), ('featurenorm', 'residual', 2), ('featurenorm', 'pretrained', 2)]
    assert all(x['pretrain_categories'] == (['brick'] if x['arm'] == 'pretrained' else []) and 0 <= x['image_auroc'] <= 1 and 'aupro_30' in x for x in rows)
    assert [x['n_refs'] for x in rows] == [0, 8, 8, 0, 8, 8, 0, 8, 8, 0, 2, 2, 2, 2] and r['table7']['paper_dinov2_b']['params_m'] == 21.3
    assert Path(r['pretrain']['checkpoint']).is_file()
    H = r['pretrain']['history']
    assert H[0]['epoch'] == 0 and 0 <= H[0]['val_auroc'] <= 1 and 0 <= H[0]['val_auroc_residual'] <= 1 and all('val_loss' in e for e in H)
    assert set(r['pretrain']['scales']) == {'blocks.2', 'blocks.4'} and {x['features'] for x in rows} == {'original', 'residual', 'pretrained'}

@pytest.mark.slow
def test_saved_pretraining_is_reused(tmp_path):
    "`pretrained = path` skips pretraining, keeps its categories, and scores exactly as the run that saved it."
    p = dict(P, detectors=['featurenorm'], fewshot=[])
    r = json.loads((run_experiment('adpretrain', p, reports=tmp_path/'rep', progress=False)/'results.json').read_text())
    rows = r['results']
    ck = r['pretrain']['checkpoint']
    out2 = run_experiment('adpretrain', dict(p, pretrained=ck, detectors=['featurenorm'], fewshot=[]), reports=tmp_path/'rep2', progress=False)
    r2 = json.loads((out2/'results.json').read_text())
    assert r2['pretrain']['categories'] == ['brick'] and r2['pretrain']['checkpoint'] == ck
    same = {x['features']: x['image_auroc'] for x in rows}
    assert {x['features']: x['image_auroc'] for x in r2['results']} == same       # the loaded projectors score identically

@pytest.mark.parametrize('name,value,msg', [
    ('pretrain_categories', "['mvtec_ad:mvtec_ad_256:puck', 'brick']", 'must not include the evaluation category'),   # a LOCO pool entry naming the evaluation category
    ('pretrain_categories', "['mvtec_ad:brick']", "each entry is 'category' or 'dataset:folder:category'"),
    ('arms', "['residual', 'projected']", 'arms: choose each of original, residual, random, pretrained at most once'),
    ('fewshot', '[1]', 'K = 1 leaves no second normal image'),
    ('fewshot_detectors', "['padim']", 'fewshot_detectors: choose from patchcore, featurenorm'),
])
def test_loco_parameters_refused_before_the_kernel(tmp_path, name, value, msg):
    "Pool entries of the leave-one-category-out grid are checked by the leak rule like plain category names, before the kernel."
    with pytest.raises(SystemExit) as e: main(['run', 'adpretrain', '-p', name, value, '--reports', str(tmp_path/'rep')])
    assert msg in str(e.value.code) and not (tmp_path/'rep').exists()

def test_checkpoint_on_other_backbone_weights_is_refused_with_the_file_named(tmp_path):
    "Issue 30: a checkpoint's backbone weights must not silently replace -p weights (the original rows would run on other weights)."
    from adnb.adpretrain import ADPretrain, check_checkpoint_backbone
    ADPretrain(weights='random:1', n_ref=8).save(tmp_path/'adp.pt')
    assert check_checkpoint_backbone(tmp_path/'adp.pt', 'efficientnet_lite0', ['blocks.2', 'blocks.4'], 'random:1')['n_ref'] == 8
    with pytest.raises(ValueError, match=r"pretrained checkpoint .*adp\.pt: .*'original' rows would run on other weights.*weights='random:1'"):
        check_checkpoint_backbone(tmp_path/'adp.pt', 'efficientnet_lite0', ['blocks.2', 'blocks.4'], 'auto')
    with pytest.raises(ValueError, match=r"adp\.pt: its layers are \['blocks.2', 'blocks.4'\], the run asks for \['blocks.4'\]"):
        check_checkpoint_backbone(tmp_path/'adp.pt', 'efficientnet_lite0', ['blocks.4'], 'random:1')

@pytest.mark.slow
def test_checkpoint_weights_mismatch_stops_the_run_before_scoring(tmp_path):
    "End to end: -p pretrained X.pt (random:1 weights) with -p weights random:2 fails in the data cell, the file named, before any row is scored."
    from adnb.adpretrain import ADPretrain
    ADPretrain(weights='random:1', n_ref=8).save(tmp_path/'adp.pt')
    with pytest.raises(ExperimentError, match=r"adp\.pt.*'original' rows would run on other weights") as e:
        run_experiment('adpretrain', dict(P, weights='random:2', pretrained=str(tmp_path/'adp.pt')), reports=tmp_path/'rep', progress=False)
    assert 'image AUROC' not in str(e.value)

@pytest.mark.slow
def test_fewshot_larger_than_the_training_split_fails_before_pretraining(tmp_path):
    "Issue 30: fewshot K above the training split (puck has 16) stops in the data cell: no pretraining, no checkpoint."
    with pytest.raises(ExperimentError, match=r'fewshot=\[2, 99\] exceed\(s\) the 16 training images of embedded/puck.*checked before pretraining'):
        run_experiment('adpretrain', dict(P, fewshot=[2, 99]), reports=tmp_path/'rep', progress=False)
    assert not list(tmp_path.rglob('adpretrain.pt'))
    with pytest.raises(ExperimentError, match=r'shots=40 exceed\(s\) the 16 training images'):
        run_experiment('adpretrain', dict(P, shots=40, fewshot=[]), reports=tmp_path/'rep2', progress=False)

@pytest.mark.slow
def test_arms_without_pretraining_label_and_pair_their_rows(tmp_path):
    "arms original/residual/random: nothing is pretrained; rows carry the arm label, the paper's ExpID, the seed and the category scale."
    out = run_experiment('adpretrain', dict(P, arms=['original', 'residual', 'random'], detectors=['featurenorm', 'patchcore'], fewshot=[2],
                                            fewshot_detectors=['featurenorm'], seed=3, pretrain_seed=5), reports=tmp_path/'rep', progress=False)
    r = json.loads((out/'results.json').read_text()); rows = r['results']
    assert r['pretrain']['steps'] == 0 and r['pretrain']['history'] == []
    full = [(x['detector'], x['features'], x['expid']) for x in rows if x['setting'] == 'full']
    assert full == [(d, f, e) for d in ('featurenorm', 'patchcore') for f, e in (('original', '2.1'), ('residual', '2.4'), ('residual+random-projector', None))]
    assert [(x['features'], x['shots']) for x in rows if x['setting'] == 'fewshot'] == [('residual', 2), ('residual+random-projector', 2)]
    assert all(x['seed'] == 3 for x in rows) and {x['pretrain_seed'] for x in rows if x['arm'] == 'random'} == {5}
    assert {x['scale'] for x in rows if x['arm'] != 'original'} == {'category'} and all(x['eval_s'] > 0 for x in rows)
