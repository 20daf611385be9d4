"""Training the sync network: batches of genuine and impostor pairs, pair tables and their scores, runs (start,
resume, a run's settings), and the clips of a folder with their mouth crops."""

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from lipnet import env, runs
from lipnet.errors import LipnetError
from lipnet.sync.network import (
    Contrastive,
    Streams,
    SyncConfig,
    SyncModel,
    load,
    load_streams,
    pair_net,
    video_windows,
)
from lipnet.sync.offsets import AUDIO_PER_VIDEO, correlation

LOGBOOK = runs.Logbook(
    fields=("epoch", "loss", "val_auc", "val_eer", "learning_rate", "seconds", "clips_per_s"),
    curves=(("Contrastive loss", "loss", ("loss",), True), ("Held-out pairs", "EER", ("val_eer",), False)),
    monitor="val_eer",
    mode="min",
    describe="epoch {epoch}: loss {loss:.4f}, held-out pairs AUC {val_auc:.3f} EER {val_eer:.1%}".format_map,
)


class Batches(keras.utils.PyDataset):
    """Training batches: `config.batch_size` distinct clips each, a random speech window of each, its speech and the
    same clip's speech shifted by `env.SYNC_MIN_SHIFT` .. `env.SYNC_MAX_OFFSET` frames. New draws every epoch."""

    def __init__(self, clips: list[Streams], config: SyncConfig, epoch: int = 0):
        super().__init__()
        self.clips = [c for c in clips if c.windows > env.SYNC_MIN_SHIFT and len(c.speech_windows())]
        self.starts = [c.speech_windows() for c in self.clips]
        self.config, self.epoch = config, epoch
        self.steps = max(1, len(self.clips) * config.windows // config.batch_size)

    def __len__(self) -> int:
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def __getitem__(self, step: int):
        rng = np.random.default_rng((self.config.seed, self.epoch, step))
        chosen = rng.choice(len(self.clips), min(self.config.batch_size, len(self.clips)), replace=False)
        mouths, genuine, shifted = [], [], []
        for i in chosen:
            c = self.clips[i]
            j, s = draw_pair(c.windows, rng, int(rng.choice(self.starts[i])))
            mouths.append(video_windows(c.mouths, [j])[0])
            genuine.append(c.mfec[AUDIO_PER_VIDEO * j : AUDIO_PER_VIDEO * j + env.SYNC_AUDIO_FRAMES])
            shifted.append(c.mfec[AUDIO_PER_VIDEO * s : AUDIO_PER_VIDEO * s + env.SYNC_AUDIO_FRAMES])
        x = (np.stack(mouths), np.stack(genuine), np.stack(shifted))
        return x, np.zeros(len(chosen), np.float32)


def draw_pair(windows: int, rng: np.random.Generator, j: int | None = None) -> tuple[int, int]:
    """A window start (random unless given) and an impostor start in the same clip, `SYNC_MIN_SHIFT` ..
    `SYNC_MAX_OFFSET` frames away."""
    j = int(rng.integers(windows)) if j is None else j
    away = [s for s in range(windows) if env.SYNC_MIN_SHIFT <= abs(s - j) <= env.SYNC_MAX_OFFSET]
    return j, int(rng.choice(away))


def pairs(clips: list[Streams], every: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Evaluation pairs: every `every`-th speech window of each clip, each with its own speech (genuine) and
    one impostor, alternately the same clip's speech 5..15 frames away and another clip's at the same time.

    Returns arrays: clip, start (the video window), speech_clip, speech_start and genuine (1 or 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, c in enumerate(clips):
        for n, j in enumerate(c.speech_windows()[::every]):
            rows.append((i, j, i, j, 1))
            others = [k for k in range(len(clips)) if k != i and clips[k].windows > j]
            if n % 2 == 0 or not others:
                rows.append((i, j, i, draw_pair(c.windows, rng, j)[1], 0))
            else:
                rows.append((i, j, int(rng.choice(others)), j, 0))
    table = np.array(rows, dtype=np.int64).reshape(-1, 5)
    return {k: table[:, n] for n, k in enumerate(("clip", "start", "speech_clip", "speech_start", "genuine"))}


def pair_distances(model: SyncModel, clips: list[Streams], table: dict[str, np.ndarray]) -> np.ndarray:
    """Embedding distance of every pair of a `pairs` table."""
    video = [model.embed_video(c) for c in clips]
    speech = [model.embed_audio(c.mfec) for c in clips]
    v = np.stack([video[c][j] for c, j in zip(table["clip"], table["start"])])
    a = np.stack([speech[c][j] for c, j in zip(table["speech_clip"], table["speech_start"])])
    return model.distances(v, a)


def envelope_distances(clips: list[Streams], table: dict[str, np.ndarray]) -> np.ndarray:
    """The baseline's pair scores: minus the correlation of mouth opening and speech energy over the window."""
    n = env.SYNC_VIDEO_FRAMES
    return np.array(
        [
            -correlation(clips[c].opening[j : j + n], clips[d].loudness[s : s + n])
            for c, j, d, s in zip(table["clip"], table["start"], table["speech_clip"], table["speech_start"])
        ]
    )


@dataclass
class PairScores:
    """Genuine-vs-impostor detection figures (lower distance: more likely genuine)."""

    auc: float
    eer: float
    ap: float
    accuracy: float  # at the EER threshold


def score_pairs(distances: np.ndarray, genuine: np.ndarray) -> PairScores:
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    genuine = np.asarray(genuine).astype(bool)
    fpr, tpr, thresholds = roc_curve(genuine, -distances)
    i = int(np.nanargmin(np.abs(fpr - (1 - tpr))))
    eer = float((fpr[i] + 1 - tpr[i]) / 2)
    accuracy = float(((-distances >= thresholds[i]) == genuine).mean())
    return PairScores(
        float(roc_auc_score(genuine, -distances)), eer, float(average_precision_score(genuine, -distances)), accuracy
    )


def train(
    config: SyncConfig,
    train_clips: list[Streams],
    val_clips: list[Streams],
    run_dir: str | Path,
    about: dict | None = None,
    verbose: int = 1,
    steps: int | None = None,
) -> SyncModel:
    """Fit a sync model in a `lipnet.runs` run directory; returns its best epoch by validation EER.
    `steps` caps the steps an epoch (tests)."""
    config.check()
    run_dir = runs.start(run_dir, config, {**(about or {}), "steps": steps})
    return _fit(config, train_clips, val_clips, run_dir, verbose, steps)


def resume(run_dir: str | Path, train_clips: list[Streams], val_clips: list[Streams], verbose: int = 1) -> SyncModel:
    """Continue a run from its last completed epoch, optimizer state included."""
    run_dir = Path(run_dir)
    config, about = run_config(run_dir)
    network, done = runs.resumable(run_dir)
    return _fit(config, train_clips, val_clips, run_dir, verbose, about.get("steps"), network, done)


def run_config(run_dir: str | Path) -> tuple[SyncConfig, dict]:
    """The `SyncConfig` of a run directory and what it says of its data."""
    return runs.run_config(run_dir, SyncConfig, "a sync model")


def _fit(config, train_clips, val_clips, run_dir: Path, verbose: int, steps=None, network=None, done: int = 0):
    keras.utils.set_random_seed(config.seed + done)
    if network is None:
        network = pair_net(config)
        network.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate), loss=Contrastive(config.selection, config.margin)
        )
    batches = Batches(train_clips, config, epoch=done)
    if steps:
        batches.steps = min(batches.steps, steps)
    table = pairs(val_clips)

    def validate(net) -> dict:
        found = score_pairs(pair_distances(SyncModel(config, net), val_clips, table), table["genuine"])
        return {"val_auc": found.auc, "val_eer": found.eer}

    runs.fit(
        network, batches, run_dir, lambda path, net: SyncModel(config, net).save(path), LOGBOOK, validate=validate,
        epochs=config.epochs, done=done, train_items=batches.steps * config.batch_size, verbose=verbose,
    )  # fmt: skip
    return load(run_dir / "best.keras")


def training_clips(data: dict) -> tuple[list[Streams], list[Streams]]:
    """The training and validation clips of a --train run: the videos under ``data["train"]``, less the
    ``exclude`` lists, split by the ``val`` list (by clip, never by frame; a tenth of the clips without one).
    Mouth crops come from ``data["crops"]``, extracted there first when missing."""
    from lipnet import grid, mouth

    root, crops = Path(data["train"]), Path(data["crops"])
    if not root.is_dir():
        raise LipnetError(f"{root}: no such directory")
    excluded = set().union(*(grid.read_list(f) for f in data["exclude"]))
    validation = grid.read_list(data["val"]) if data["val"] else set()
    clips = []
    for path in grid.find_videos(root):
        key = f"{grid.speaker_of(path, root) or root.name}/{path.stem}"
        clips.append(grid.Clip(key, media=path, crops=crops / path.relative_to(root).with_suffix(".npy")))
    train, val, _ = grid.split(clips, excluded, validation)
    if not validation:
        val, train = train[::10], [c for i, c in enumerate(train) if i % 10]
    extractor = None
    for clip in train + val:
        if not clip.crops.is_file():
            extractor = extractor or mouth.MouthExtractor()
            extractor.extract(clip.media, frames=None).save(clip.crops)
    train_clips, val_clips = [load_streams(c) for c in train], [load_streams(c) for c in val]
    if len(train_clips) < 2 or not val_clips:
        raise LipnetError(f"{root}: too few clips to train and validate")
    return train_clips, val_clips
