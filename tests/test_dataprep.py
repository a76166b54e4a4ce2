"""`adnb data` on tiny synthetic archives: every archive kind, resizing, verification against counts and masks, nothing
left under a final name after a failure, downloads only where the licence allows, one-line CLI errors."""
import io, json, tarfile, zipfile
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from adnb.cli import main
from adnb.dataprep import prepare, download, DataPrepError, MVTEC_AD_COUNTS
from adnb.datasets import write_layout_fixture, mvtec_records, visa_records

TOY = {'toy': {'train/good': 2, 'test/good': 1, 'test/crack': 2}}

def _archive(src:Path, dest:Path, top='mvtec_anomaly_detection')->Path:
    "`src` packed as `dest` (.tar.gz, .tar.xz, .tar or .zip) under one top folder, as the official archives are."
    if dest.suffix == '.zip':
        with zipfile.ZipFile(dest, 'w') as z:
            for f in sorted(src.rglob('*')):
                if f.is_file(): z.write(f, f'{top}/{f.relative_to(src).as_posix()}')
    else:
        mode = {'.gz': 'w:gz', '.xz': 'w:xz', '.tar': 'w'}[dest.suffix]
        with tarfile.open(dest, mode) as t: t.add(src, arcname=top)
    return dest

@pytest.fixture
def raw(tmp_path): return write_layout_fixture(tmp_path/'raw', 'mvtec_ad', size=16)

@pytest.mark.parametrize('name', ['toy.tar.gz', 'toy.tar.xz', 'toy.tar', 'toy.zip', None])
def test_prepare_every_archive_kind(tmp_path, raw, name):
    src = _archive(raw, tmp_path/name) if name else raw
    s = prepare('mvtec_ad', src, tmp_path/'root', size=8, official=TOY, progress=False)
    assert s['categories'] == TOY
    im, m = Image.open(tmp_path/'root/toy/test/crack/000.png'), Image.open(tmp_path/'root/toy/ground_truth/crack/000_mask.png')
    assert im.size == m.size == (8, 8) and set(np.unique(np.asarray(m))) == {0, 255}      # masks resized nearest: still binary
    assert len(mvtec_records(tmp_path/'root', 'toy')) == 5                                  # the loader the lessons use reads it
    assert json.loads((tmp_path/'root/adnb_data.json').read_text())['toy']['counts'] == TOY['toy']

def test_size_zero_keeps_the_originals(tmp_path, raw):
    prepare('mvtec_ad', raw, tmp_path/'root', size=0, official=TOY, progress=False)
    assert (tmp_path/'root/toy/train/good/000.png').read_bytes() == (raw/'toy/train/good/000.png').read_bytes()

def test_wrong_counts_leave_nothing(tmp_path, raw):
    with pytest.raises(DataPrepError, match=r'test/crack: 2 \(official 3\)'):
        prepare('mvtec_ad', raw, tmp_path/'root', 8, official={'toy': {**TOY['toy'], 'test/crack': 3}}, progress=False)
    assert not (tmp_path/'root'/'toy').exists() and not (tmp_path/'root'/'.adnb-data.partial').exists()

def test_missing_and_empty_masks_are_named(tmp_path, raw):
    (raw/'toy/ground_truth/crack/001_mask.png').unlink()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(raw/'toy/ground_truth/crack/000_mask.png')
    with pytest.raises(DataPrepError) as e: prepare('mvtec_ad', raw, tmp_path/'root', 8, official=TOY, progress=False)
    assert 'toy/test/crack/001.png has no mask' in str(e.value) and 'toy/ground_truth/crack/000_mask.png is empty' in str(e.value)

def test_existing_category_needs_overwrite(tmp_path, raw):
    prepare('mvtec_ad', raw, tmp_path/'root', 8, official=TOY, progress=False)
    with pytest.raises(FileExistsError, match='--overwrite'): prepare('mvtec_ad', raw, tmp_path/'root', 8, official=TOY, progress=False)
    prepare('mvtec_ad', raw, tmp_path/'root', 4, official=TOY, overwrite=True, progress=False)
    assert Image.open(tmp_path/'root/toy/train/good/000.png').size == (4, 4)

def test_unknown_category_is_refused_against_the_official_counts(tmp_path, raw):
    with pytest.raises(DataPrepError, match="toy: not a category of the official mvtec_ad release"):
        prepare('mvtec_ad', raw, tmp_path/'root', 8, progress=False)

def test_official_counts_pass_for_a_full_category(tmp_path):
    "A synthetic 'bottle' with exactly the official folder sizes passes the default verification (the CLI path)."
    rng = np.random.default_rng(0); src = tmp_path/'bottle_src'/'bottle'
    m = np.zeros((8, 8), np.uint8); m[2:4, 2:4] = 255
    for k, n in MVTEC_AD_COUNTS['bottle'].items():
        d = src/k; d.mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).save(d/f'{i:03d}.png')
            if not k.endswith('good'):
                g = src/'ground_truth'/k.split('/')[1]; g.mkdir(parents=True, exist_ok=True); Image.fromarray(m).save(g/f'{i:03d}_mask.png')
    arc = _archive(src.parent, tmp_path/'bottle.tar.xz', top='.')
    main(['data', 'mvtec_ad', str(arc), '--out', str(tmp_path/'root'), '--size', '4'])          # exit 0: verified
    assert len(mvtec_records(tmp_path/'root', 'bottle')) == 209 + 83

def test_visa_download_only_where_the_licence_allows(tmp_path):
    with pytest.raises(ValueError, match='MVTec AD is not downloaded by adnb'): download('mvtec_ad', tmp_path)
    with pytest.raises(ValueError, match='MPDD is not downloaded by adnb'): download('mpdd', tmp_path)
    arc = _archive(write_layout_fixture(tmp_path/'visa_raw', 'visa'), tmp_path/'VisA_20220922.tar', top='VisA')
    got = download('visa', tmp_path/'visa', url=arc.as_uri(), progress=False)     # a file:// URL stands in for the official one
    prepare('visa', got, tmp_path/'visa', 8, official={'toy': dict(Normal=3, Anomaly=2), 'other': dict(Normal=1, Anomaly=0)}, progress=False)
    assert len(visa_records(tmp_path/'visa', 'toy')) == 5
    with pytest.raises(ConnectionError, match='download it yourself'): download('visa', tmp_path/'v2', url=(tmp_path/'nope.tar').as_uri(), progress=False)
    assert not list((tmp_path/'v2'/'.download').glob('*'))                        # no partial file left

@pytest.mark.parametrize('argv, says', [
    (['data', 'mvtec_ad', '--out', 'x'], 'give the archive or folder you downloaded'),
    (['data', 'mvtec_ad', '/no/such/archive.tar.xz', '--out', 'x'], 'no archive or folder /no/such/archive.tar.xz'),
    (['data', 'mvtec_ad', '--download', '--out', 'x'], 'MVTec AD is not downloaded by adnb'),
    (['data', 'mvtec_ad', 'src', '--out', 'x', '--size', '-3'], '--size -3'),
    (['data', 'mvtec_ad', 'src', '--out', 'x', '--categories', 'botle'], '--categories botle: not in mvtec_ad'),
    (['data', 'mvtec_ad', '.', '--out', 'x'], '--out x lies inside the source')])
def test_cli_errors_are_one_line(tmp_path, monkeypatch, argv, says):
    monkeypatch.chdir(tmp_path); (tmp_path/'src').mkdir()
    with pytest.raises(SystemExit) as e: main(argv)
    assert str(e.value).startswith('adnb: ') and says in str(e.value) and '\n' not in str(e.value)
    assert not (tmp_path/'x').exists()                                            # refused before anything was written
