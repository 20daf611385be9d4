"""evaluate.py: scores per decoder on real clips, from videos and from extracted crops."""

import json

from conftest import in_process

import evaluate
from lipnet import env
from lipnet.mouth import MouthExtractor


def run(argv: list[str]) -> tuple[int, str, str]:
    return in_process(evaluate.main, argv)


def test_scores_the_samples_with_every_decoder(tmp_path):
    code, stdout, stderr = run(["-v", str(env.ROOT / "samples"), "--output", str(tmp_path / "scores.json")])
    assert (code, stderr) == (0, "")
    rows = {r["decoder"]: r for r in json.loads((tmp_path / "scores.json").read_text())["rows"]}
    assert set(rows) == {"greedy", "beam", "grammar"} and all(r["count"] == 3 for r in rows.values())
    assert rows["grammar"]["wer"] == 0.0 and rows["grammar"]["accuracy"] == 1.0  # the shipped model reads all three
    assert rows["greedy"]["cer"] >= rows["grammar"]["cer"]
    assert "grammar" in stdout


def test_scores_extracted_crops_per_speaker_and_split(tmp_path):
    extractor = MouthExtractor()
    extractor.extract(env.ROOT / "samples" / "lgil7a.mp4").save(tmp_path / "data" / "s1" / "lgil7a.npy")
    extractor.extract(env.ROOT / "tests" / "fixtures" / "pwij3p.mpg").save(tmp_path / "data" / "s2" / "pwij3p.npy")
    listing = tmp_path / "held.txt"
    listing.write_text("s1/lgil7a\n")
    code, _, _ = run(["-d", str(tmp_path / "data"), "--decoders", "grammar", "--output", str(tmp_path / "all.csv")])
    assert code == 0
    lines = (tmp_path / "all.csv").read_text().splitlines()
    assert lines[0].startswith("decoder,speaker") and [line.split(",")[1] for line in lines[1:]] == ["all", "s1", "s2"]
    code, stdout, _ = run(["-d", str(tmp_path / "data"), "--split", str(listing), "--decoders", "grammar"])
    assert code == 0 and " 1 " in stdout.splitlines()[1]  # one clip: the held-out one


def test_chains_read_clips_of_a_speaker_in_a_row(tmp_path):
    """--chain 3: the three s1 samples played one after another, scored against their three sentences."""
    extractor = MouthExtractor()
    for sample in sorted((env.ROOT / "samples").glob("*.mp4")):
        extractor.extract(sample).save(tmp_path / "data" / "s1" / f"{sample.stem}.npy")
    scores = tmp_path / "chains.json"
    code, _, stderr = run(["-d", str(tmp_path / "data"), "--chain", "3", "--output", str(scores)])
    assert (code, stderr) == (0, "")
    rows = json.loads(scores.read_text())["rows"]
    assert [r["decoder"] for r in rows] == ["greedy", "beam"]  # the grammar decoder reads one sentence only
    assert all(r["count"] == 1 for r in rows)  # one chain of 3 clips
    assert 0 <= rows[0]["cer"] <= 1


def test_nothing_to_score_is_one_line_error(tmp_path):
    (tmp_path / "holiday.mp4").write_bytes(b"")
    code, _, stderr = run(["-v", str(tmp_path)])
    assert code == 1 and stderr.splitlines()[-1].startswith("error:")
